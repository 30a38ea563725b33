using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Cli;

/// <summary>
/// The <c>celeriac</c> command run as a real process against a live system: a redis-server, a real worker process and
/// real tasks in it (succeeded, failed, dead-lettered, waiting, scheduled). Its JSON is parsed and checked against what
/// the system holds, its tables are read as a script would read them, and every exit code is checked.
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // starts processes: never beside other such tests
public sealed class CliTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string _prefix = RedisFixture.NewPrefix();

    private CliProcess Cli => new(output, RedisFixture.Configuration, _prefix);

    /// <summary>A worker on <c>default</c>, and tasks in every state: a success, a failure, a dead letter; three waiting and one scheduled on <c>slow</c> (no worker there).</summary>
    private async Task<(string Added, string Failed, string Dead, string[] Waiting, string Scheduled)> SeedAsync()
    {
        await RedisFixture.GetAsync();
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = _prefix });
        Workers.Add(await WorkerProcess.StartAsync(output, "worker", RedisFixture.Configuration, _prefix, "default", 2, 30_000));

        TaskHandle<int> added = await Calc.AddTask.DelayAsync(Client, 2, 3);
        Assert.Equal(5, await added.GetAsync(Bound));
        TaskHandle<int> failed = await Calc.FailTask.DelayAsync(Client, "boom");
        await Assert.ThrowsAsync<TaskFailedException>(() => failed.GetAsync(Bound));
        TaskHandle<int> dead = await Faults.AlwaysFailsTask.DelayAsync(Client, _prefix);
        await Assert.ThrowsAsync<TaskFailedException>(() => dead.GetAsync(Bound));
        await Wait.UntilAsync(async () => await Client.GetDeadLetterAsync("default", dead.Id) is not null, Bound, "the dead letter");

        var slow = new TaskOptions { Queue = "slow" };
        string[] waiting = [.. (await Task.WhenAll(Enumerable.Range(0, 3).Select(i => Calc.AddTask.ApplyAsync(Client, i, i, slow).AsTask()))).Select(h => h.Id)];
        TaskHandle<int> scheduled = await Calc.AddTask.ApplyAsync(Client, 7, 7, new TaskOptions { Queue = "slow", Countdown = TimeSpan.FromHours(1) });
        return (added.Id, failed.Id, dead.Id, waiting, scheduled.Id);
    }

    [Fact]
    public async Task Queues_status_results_and_dead_letters_are_shown_as_the_system_holds_them()
    {
        (string added, string failed, string dead, string[] waiting, string scheduled) = await SeedAsync();

        // queues --json: one entry per queue of the registry, with its four counts.
        CliRun queues = await Cli.RunAsync("--json", "queues");
        Assert.Equal(0, queues.ExitCode);
        Dictionary<string, JsonElement> byName = queues.Json.GetProperty("queues").EnumerateArray().ToDictionary(q => q.GetProperty("queue").GetString()!);
        Assert.Equal(["default", "slow"], byName.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((0, 0, 0, 1), Counts(byName["default"]));
        Assert.Equal((3, 1, 0, 0), Counts(byName["slow"]));

        // queues in a pipe: a header and space-aligned columns, one row per queue, read as awk would.
        CliRun table = await Cli.RunAsync("queues");
        Assert.Equal(0, table.ExitCode);
        string[][] rows = [.. table.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(r => r.Length > 0)];
        Assert.Equal(["QUEUE", "PENDING", "SCHEDULED", "ACTIVE", "DEAD"], rows[0]);
        Assert.Contains(rows, r => r.SequenceEqual(["slow", "3", "1", "0", "0"]));
        Assert.Contains(rows, r => r.SequenceEqual(["default", "0", "0", "0", "1"]));
        Assert.DoesNotContain("\u001b[", table.Stdout, StringComparison.Ordinal); // no colour codes in a pipe

        // status --json: the same queues and their totals.
        CliRun status = await Cli.RunAsync("--json", "status");
        Assert.Equal(0, status.ExitCode);
        Assert.Equal(_prefix, status.Json.GetProperty("prefix").GetString());
        Assert.Equal((3, 1, 0, 1), Counts(status.Json.GetProperty("totals")));

        // result: a success with its value, a failure with its error, a waiting task with where it is.
        JsonElement success = (await Cli.RunAsync("--json", "result", added)).Json;
        Assert.Equal("SUCCESS", success.GetProperty("state").GetString());
        Assert.Equal(5, success.GetProperty("value").GetInt32());
        Assert.Equal("Celeriac.TestTasks.Calc.Add", success.GetProperty("task").GetString());
        JsonElement failure = (await Cli.RunAsync("--json", "result", failed)).Json;
        Assert.Equal("FAILURE", failure.GetProperty("state").GetString());
        Assert.Equal("System.InvalidOperationException", failure.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("boom", failure.GetProperty("error").GetProperty("message").GetString());
        JsonElement pending = (await Cli.RunAsync("--json", "result", waiting[0])).Json;
        Assert.Equal("PENDING", pending.GetProperty("state").GetString());
        Assert.Equal("slow", pending.GetProperty("location").GetProperty("queue").GetString());
        Assert.Equal("pending", pending.GetProperty("location").GetProperty("place").GetString());
        JsonElement later = (await Cli.RunAsync("--json", "result", scheduled)).Json;
        Assert.Equal("scheduled", later.GetProperty("location").GetProperty("place").GetString());
        Assert.True(later.GetProperty("location").GetProperty("since").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(30));
        CliRun text = await Cli.RunAsync("result", added);
        Assert.Equal(0, text.ExitCode);
        Assert.Matches(@"(?m)^state\s+SUCCESS\s*$", text.Stdout);
        Assert.Matches(@"(?m)^value\s+5\s*$", text.Stdout);

        // dlq list and show: the dead letter, its reason, and its message's arguments as JSON.
        JsonElement letters = (await Cli.RunAsync("--json", "dlq", "list")).Json.GetProperty("deadLetters");
        JsonElement letter = Assert.Single(letters.EnumerateArray());
        Assert.Equal(dead, letter.GetProperty("id").GetString());
        Assert.Equal("default", letter.GetProperty("queue").GetString());
        Assert.Equal("Celeriac.TestTasks.Faults.AlwaysFails", letter.GetProperty("task").GetString());
        Assert.StartsWith("failed: System.InvalidOperationException", letter.GetProperty("reason").GetString(), StringComparison.Ordinal);
        JsonElement shown = (await Cli.RunAsync("--json", "dlq", "show", dead)).Json;
        Assert.Equal(2, shown.GetProperty("retries").GetInt32());
        Assert.Equal($"[\"{_prefix}\"]", shown.GetProperty("message").GetProperty("args").GetRawText());
        Assert.Equal(0, (await Cli.RunAsync("--json", "dlq", "list", "slow")).Json.GetProperty("deadLetters").GetArrayLength());

        // Unknown ids: exit 1 with a message that says what was looked for.
        CliRun unknown = await Cli.RunAsync("result", "no-such-task");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no task with id 'no-such-task'", unknown.Stderr, StringComparison.Ordinal);
        Assert.Equal("", unknown.Stdout);
        CliRun notDead = await Cli.RunAsync("dlq", "show", waiting[1]);
        Assert.Equal(1, notDead.ExitCode);
        Assert.Contains("is not a dead letter: it is pending in queue 'slow'", notDead.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_requeue_and_purge_change_the_system_and_say_what_they_did()
    {
        (string added, _, string dead, string[] waiting, string scheduled) = await SeedAsync();
        IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();

        // revoke: a scheduled task is revoked (the revocation is in its queue's set); a finished one is left alone; an unknown id is refused.
        JsonElement revoked = (await Cli.RunAsync("--json", "revoke", scheduled)).Json;
        Assert.True(revoked.GetProperty("revoked").GetBoolean());
        Assert.Equal("scheduled", revoked.GetProperty("location").GetProperty("place").GetString());
        Assert.NotNull(await db.SortedSetScoreAsync($"{_prefix}:{{slow}}:revoked", scheduled));
        CliRun finished = await Cli.RunAsync("--json", "revoke", added);
        Assert.Equal(0, finished.ExitCode);
        Assert.False(finished.Json.GetProperty("revoked").GetBoolean());
        Assert.Equal("SUCCESS", finished.Json.GetProperty("state").GetString());
        CliRun nobody = await Cli.RunAsync("revoke", "no-such-task");
        Assert.Equal(1, nobody.ExitCode);
        Assert.Contains("--force", nobody.Stderr, StringComparison.Ordinal);
        Assert.Null(await db.SortedSetScoreAsync($"{_prefix}:revoked", "no-such-task"));
        Assert.Equal(0, (await Cli.RunAsync("revoke", "no-such-task", "--force")).ExitCode);
        Assert.NotNull(await db.SortedSetScoreAsync($"{_prefix}:revoked", "no-such-task"));

        // dlq requeue: the dead letter runs again (all its retries) and comes back; an id that is not there is reported (exit 1).
        long triesBefore = (await new RedisLedger(await RedisFixture.GetAsync()).ReadAsync(_prefix)).Count;
        JsonElement requeued = (await Cli.RunAsync("--json", "dlq", "requeue", "default", dead)).Json;
        Assert.Equal(1, requeued.GetProperty("requeued").GetInt32());
        await Wait.UntilAsync(async () => (await new RedisLedger(await RedisFixture.GetAsync()).ReadAsync(_prefix)).Count == triesBefore * 2, Bound, "the requeued task's three runs");
        await Wait.UntilAsync(async () => await Client!.GetDeadLetterAsync("default", dead) is not null, Bound, "the dead letter again");
        CliRun partly = await Cli.RunAsync("--json", "dlq", "requeue", "default", "nope");
        Assert.Equal(1, partly.ExitCode);
        Assert.Equal(0, partly.Json.GetProperty("requeued").GetInt32());
        Assert.Equal("nope", Assert.Single(partly.Json.GetProperty("notFound").EnumerateArray()).GetString());

        // purge: refused without --yes where nobody can be asked (exit 2, nothing deleted); with --yes only the waiting messages go.
        CliRun refused = await Cli.RunAsync("purge", "slow");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--yes", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(3, (await Client!.GetQueueCountsAsync("slow")).Pending);
        JsonElement purged = (await Cli.RunAsync("--json", "purge", "slow", "--yes")).Json;
        Assert.Equal(3, purged.GetProperty("purged").GetInt32());
        Assert.Equal(new Inspection.QueueCounts("slow", 0, 1, 0, 0), await Client.GetQueueCountsAsync("slow"));
        Assert.All(waiting, id => Assert.Null(Client.FindTaskAsync(id).GetAwaiter().GetResult()));
        Assert.Equal(1, (await Cli.RunAsync("purge", "no-such-queue", "--yes")).ExitCode);

        // dlq purge: every dead letter of the queue, for good.
        JsonElement dlqPurged = (await Cli.RunAsync("--json", "dlq", "purge", "default", "--yes")).Json;
        Assert.Equal(1, dlqPurged.GetProperty("purged").GetInt32());
        Assert.Empty(await Client.GetDeadLettersAsync("default"));
    }

    [Fact]
    public async Task A_purge_of_thousands_goes_in_batches_and_leaves_nothing_waiting()
    {
        await RedisFixture.GetAsync();
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = _prefix });
        const int Count = 2_500; // three batches of CeleriacClient.PurgeBatchSize
        await Calc.AddTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Count).Select(i => (i, i))]);
        await Calc.AddTask.ApplyAsync(Client, 1, 2, new TaskOptions { Priority = 7 });
        Assert.Equal(Count + 1, (await Client.GetQueueCountsAsync("default")).Pending);

        CliRun purge = await Cli.RunAsync("--json", "purge", "default", "--yes");
        Assert.Equal(0, purge.ExitCode);
        Assert.Equal(Count + 1, purge.Json.GetProperty("purged").GetInt32());
        Assert.Equal(0, (await Client.GetQueueCountsAsync("default")).Pending);
        IServer server = (await RedisFixture.GetAsync()).GetServers()[0];
        Assert.Empty(server.Keys(pattern: $"{_prefix}:{{default}}:t:*").Take(1)); // no message hash left behind
    }

    [Fact]
    public async Task Wrong_addresses_bad_arguments_and_the_environment_give_the_documented_exit_codes()
    {
        await RedisFixture.GetAsync();

        // A port nobody listens on: exit 3, one line that names the address.
        int closed = ClosedPort();
        CliRun unreachable = await Cli.RunRawAsync(["--redis", $"127.0.0.1:{closed},connectTimeout=2000", "status"]);
        Assert.Equal(3, unreachable.ExitCode);
        Assert.Contains($"Could not connect to Redis at 127.0.0.1:{closed}", unreachable.Stderr, StringComparison.Ordinal);
        Assert.Single(unreachable.Stderr.Trim().Split('\n'));
        Assert.Equal("", unreachable.Stdout);

        // CELERIAC_REDIS and CELERIAC_PREFIX stand in for the options.
        CliRun fromEnvironment = await Cli.RunRawAsync(["--json", "status"], ("CELERIAC_REDIS", RedisFixture.Configuration), ("CELERIAC_PREFIX", _prefix));
        Assert.Equal(0, fromEnvironment.ExitCode);
        Assert.Equal(_prefix, fromEnvironment.Json.GetProperty("prefix").GetString());

        // Usage errors: exit 2, before any connection is tried.
        Assert.Equal(2, (await Cli.RunAsync("frobnicate")).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync("dlq", "list", "--limit", "0")).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync("dlq", "requeue", "default")).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync("dlq", "requeue", "default", "x", "--all")).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync("result")).ExitCode);
        CliRun help = await Cli.RunAsync("--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("celeriac [command] [options]", help.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_and_control_reach_a_live_worker_and_status_lists_it()
    {
        await RedisFixture.GetAsync();
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = _prefix });
        WorkerProcess process = await WorkerProcess.StartAsync(output, "worker", RedisFixture.Configuration, _prefix, "default", 2, 30_000, "--registry-ms", "300");
        Workers.Add(process);
        await Wait.UntilAsync(async () => (await Client.Workers.ListAsync()).Count == 1, Bound, "the worker to register");

        // status lists the worker with its pid and queues.
        JsonElement worker = Assert.Single((await Cli.RunAsync("--json", "status")).Json.GetProperty("workers").EnumerateArray());
        string id = worker.GetProperty("id").GetString()!;
        Assert.Equal(process.Id, worker.GetProperty("pid").GetInt32());
        Assert.Equal(["default"], Strings(worker.GetProperty("queues")));
        Assert.Equal(2, worker.GetProperty("concurrency").GetInt32());

        // inspect: ping, a long task seen as active on that worker, its registered tasks and stats.
        CliRun ping = await Cli.RunAsync("inspect", "ping");
        Assert.Equal(0, ping.ExitCode);
        Assert.Equal($"{id}: pong", ping.Stdout.Trim());
        TaskHandle<int> held = await Calc.HoldTask.DelayAsync(Client, 20_000);
        JsonElement active = default;
        await Wait.UntilAsync(async () =>
        {
            active = (await Cli.RunAsync("--json", "inspect", "active")).Json.GetProperty("replies");
            return active.GetArrayLength() == 1 && active[0].GetProperty("value").GetArrayLength() == 1;
        }, Bound, "the held task to be active");
        Assert.Equal(id, active[0].GetProperty("worker").GetString());
        JsonElement running = active[0].GetProperty("value")[0];
        Assert.Equal(held.Id, running.GetProperty("id").GetString());
        Assert.Equal("Celeriac.TestTasks.Calc.Hold", running.GetProperty("task").GetString());
        JsonElement registered = Assert.Single((await Cli.RunAsync("--json", "inspect", "registered")).Json.GetProperty("replies").EnumerateArray());
        Assert.Contains(registered.GetProperty("value").EnumerateArray(), t => t.GetProperty("name").GetString() == "Celeriac.TestTasks.Calc.Add" && t.GetProperty("queue").GetString() == "default");
        JsonElement stats = Assert.Single((await Cli.RunAsync("--json", "inspect", "stats", "--worker", id)).Json.GetProperty("replies").EnumerateArray()).GetProperty("value");
        Assert.Equal(process.Id, stats.GetProperty("pid").GetInt32());
        Assert.Equal(1, stats.GetProperty("active").GetInt32());
        Assert.Equal(0, (await Cli.RunAsync("--json", "inspect", "reserved")).ExitCode);
        CliRun nobody = await Cli.RunAsync("inspect", "ping", "--worker", "no-such-worker", "--timeout", "0.5");
        Assert.Equal(1, nobody.ExitCode);
        Assert.Contains("worker 'no-such-worker' did not answer", nobody.Stderr, StringComparison.Ordinal);

        // control: concurrency up and down, a queue added and one dropped, each reply checked in the worker's stats.
        Assert.Equal(4, Assert.Single((await Cli.RunAsync("--json", "control", "grow", "2")).Json.GetProperty("replies").EnumerateArray()).GetProperty("value").GetInt32());
        Assert.Equal(3, Assert.Single((await Cli.RunAsync("--json", "control", "shrink")).Json.GetProperty("replies").EnumerateArray()).GetProperty("value").GetInt32());
        Assert.Equal(0, (await Cli.RunAsync("control", "add-consumer", "slow", "--worker", id)).ExitCode);
        Assert.Equal(0, (await Cli.RunAsync("control", "cancel-consumer", "default")).ExitCode);
        CliRun refusal = await Cli.RunAsync("--json", "control", "cancel-consumer", "slow");
        Assert.Equal(4, refusal.ExitCode); // a worker refuses to drop its only queue
        Assert.False(string.IsNullOrEmpty(Assert.Single(refusal.Json.GetProperty("replies").EnumerateArray()).GetProperty("error").GetString()));
        JsonElement after = Assert.Single((await Cli.RunAsync("--json", "inspect", "stats")).Json.GetProperty("replies").EnumerateArray()).GetProperty("value");
        Assert.Equal(3, after.GetProperty("concurrency").GetInt32());
        Assert.Equal(["slow"], Strings(after.GetProperty("queues")));

        // control shutdown: the worker stops warmly (its held task is handed back or finishes) and is gone from status.
        await Client.RevokeAsync(held.Id);
        JsonElement stopping = Assert.Single((await Cli.RunAsync("--json", "control", "shutdown", id, "--timeout", "5")).Json.GetProperty("replies").EnumerateArray());
        Assert.Equal("stopping", stopping.GetProperty("value").GetString());
        await process.WaitForExitAsync(Bound);
        Assert.Equal(0, process.ExitCode);
        Assert.Equal(0, (await Cli.RunAsync("--json", "status")).Json.GetProperty("workers").GetArrayLength());
        Assert.Equal(1, (await Cli.RunAsync("inspect", "ping", "--timeout", "0.5")).ExitCode);
    }

    [Fact]
    public async Task Events_are_followed_live_as_JSON_lines_and_caught_up_after_an_id()
    {
        await RedisFixture.GetAsync();
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = _prefix });
        Workers.Add(await WorkerProcess.StartAsync(output, "worker", RedisFixture.Configuration, _prefix, "default", 2, 30_000, "--events", "true"));

        // A follower started before the task is sent (from the start of the stream, so it cannot miss what comes first),
        // stopped by --seconds: the task's events arrive in order, one JSON object per line.
        Task<CliRun> following = Cli.RunAsync("--json", "events", "--follow", "--after", "0-0", "--seconds", "6");
        TaskHandle<int> sent = await Calc.AddTask.DelayAsync(Client, 20, 22);
        Assert.Equal(42, await sent.GetAsync(Bound));
        CliRun followed = await following;
        Assert.Equal(0, followed.ExitCode);
        JsonElement[] lines = [.. followed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
        string[] mine = [.. lines.Where(e => e.TryGetProperty("taskId", out JsonElement id) && id.GetString() == sent.Id).Select(e => e.GetProperty("type").GetString()!)];
        Assert.Equal(["task-received", "task-started", "task-succeeded"], mine.Where(t => t != "task-sent"));
        Assert.Contains(lines, e => e.GetProperty("type").GetString() == "worker-online");
        JsonElement succeeded = lines.Single(e => e.GetProperty("type").GetString() == "task-succeeded" && e.GetProperty("taskId").GetString() == sent.Id);
        Assert.Equal("Celeriac.TestTasks.Calc.Add", succeeded.GetProperty("task").GetString());
        Assert.True(succeeded.GetProperty("runtimeMs").GetDouble() >= 0);

        // Catching up after an id: only what came after it.
        string receivedId = lines.Single(e => e.GetProperty("type").GetString() == "task-received" && e.GetProperty("taskId").GetString() == sent.Id).GetProperty("id").GetString()!;
        CliRun after = await Cli.RunAsync("--json", "events", "--follow", "--after", receivedId, "--seconds", "1");
        string[] rest = [.. after.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("taskId", out JsonElement id) && id.GetString() == sent.Id).Select(e => e.GetProperty("type").GetString()!)];
        Assert.Equal(["task-started", "task-succeeded"], rest);

        // A snapshot in text: one line per event, the kind in its own column.
        CliRun snapshot = await Cli.RunAsync("events", "--limit", "50");
        Assert.Equal(0, snapshot.ExitCode);
        Assert.Matches($@"(?m)^\d\d:\d\d:\d\d\.\d{{3}}  task-succeeded\s+{sent.Id} Celeriac\.TestTasks\.Calc\.Add \[default\]", snapshot.Stdout);

        // The run-time switch.
        Assert.False((await Cli.RunAsync("--json", "control", "events", "off")).Json.GetProperty("events").GetBoolean());
        Assert.False(await Client.Events.GetEnabledAsync());
        Assert.Equal(JsonValueKind.Null, (await Cli.RunAsync("--json", "control", "events", "default")).Json.GetProperty("events").ValueKind);
        Assert.Null(await Client.Events.GetEnabledAsync());
        Assert.Equal(2, (await Cli.RunAsync("control", "events", "maybe")).ExitCode);
        Assert.Equal(2, (await Cli.RunAsync("events", "--seconds", "1")).ExitCode); // --seconds goes with --follow
    }

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    private static (int Pending, int Scheduled, int Active, int Dead) Counts(JsonElement q)
        => (q.GetProperty("pending").GetInt32(), q.GetProperty("scheduled").GetInt32(), q.GetProperty("active").GetInt32(), q.GetProperty("dead").GetInt32());

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
