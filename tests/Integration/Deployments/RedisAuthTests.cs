using System.Diagnostics;
using System.Globalization;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Deployments;

/// <summary>
/// AUTH and ACL on a redis-server of the test's own: the default user has a password, and an ACL user <c>app</c> may
/// touch only the keys and channels of one key prefix (<see cref="MinimalAcl"/>, the rule docs/deployment.md gives).
/// </summary>
public sealed class RedisAuthTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string AdminPassword = "admin-secret-1";
    private const string AppPassword = "app-secret-2";
    private readonly string _prefix = RedisFixture.NewPrefix();
    private readonly List<IHost> _hosts = [];
    private RedisProcess? _server;
    private int _port;

    /// <summary>
    /// The ACL rule of the prefix's user, as documented: its keys and channels; data commands, scripts, pub/sub,
    /// connection and transaction commands; nothing dangerous (no INFO, CONFIG, KEYS, FLUSHALL, ...).
    /// </summary>
    public static string[] MinimalAcl(string user, string password, string prefix) =>
        [user, "reset", "on", ">" + password, $"~{prefix}:*", $"&{prefix}:*", "+@read", "+@write", "+@scripting", "+@pubsub", "+@connection", "+@transaction", "-@dangerous"];

    public async Task InitializeAsync()
    {
        _port = RedisProcess.FreePort();
        string dir = Directory.CreateTempSubdirectory("celeriac-acl-").FullName;
        _server = RedisProcess.Start("acl-redis", [
            "--port", _port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--requirepass", AdminPassword,
            "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"]);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using ConnectionMultiplexer admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_port},password={AdminPassword},connectTimeout=500");
                RedisResult set = await admin.GetDatabase().ExecuteAsync("ACL", ["SETUSER", .. MinimalAcl("app", AppPassword, _prefix)]);
                output.WriteLine($"redis-server pid {_server.Pid} on 127.0.0.1:{_port} (default user has a password); ACL SETUSER {string.Join(" ", MinimalAcl("app", "***", _prefix))} -> {set}");
                break;
            }
            catch (RedisConnectionException) when (clock.Elapsed < TimeSpan.FromSeconds(15) && !_server.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    public async Task DisposeAsync()
    {
        await TestHost.StopAllAsync(_hosts);
        _server?.Dispose();
    }

    [Fact]
    public async Task An_ACL_user_limited_to_the_key_prefix_runs_tasks_end_to_end()
    {
        string redis = $"127.0.0.1:{_port},user=app,password={AppPassword}";
        IHost host = await TestHost.StartAsync(output, "acl-worker", redis, _prefix, new MemoryLedger());
        _hosts.Add(host);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();

        var clock = Stopwatch.StartNew();
        TaskHandle<int>[] handles = await Calc.AddTask.DelayManyAsync(client, [.. Enumerable.Range(0, 50).Select(n => (n, 1))]);
        int[] sums = await Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(20))));
        TaskHandle<int> later = await Calc.AddTask.ApplyAsync(client, 20, 22, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(300) });
        int delayed = await later.GetAsync(TimeSpan.FromSeconds(20));
        TaskHandle<int> failing = await Faults.AlwaysFailsTask.DelayAsync(client, _prefix + "-fails");
        TaskFailedException failed = await Assert.ThrowsAsync<TaskFailedException>(() => failing.GetAsync(TimeSpan.FromSeconds(20)));
        TaskHandle<int> revoked = await Calc.AddTask.ApplyAsync(client, 1, 1, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(500) });
        await ((CeleriacClient)client).RevokeAsync(revoked.Id);
        await Wait.UntilAsync(async () => await revoked.GetStateAsync() == TaskState.Revoked, TimeSpan.FromSeconds(20), "the revoked task to be REVOKED");
        long ranMs = clock.ElapsedMilliseconds;

        // The limit is real: the same user may not touch a key outside its prefix.
        await using ConnectionMultiplexer app = await ConnectionMultiplexer.ConnectAsync(redis);
        RedisServerException denied = await Assert.ThrowsAsync<RedisServerException>(() => app.GetDatabase().StringSetAsync("other-app:key", "x"));
        output.WriteLine($"OBSERVED: as ACL user 'app', in {ranMs} ms: 50 tasks, one with a countdown, one retried then dead-lettered ({failed.RemoteMessage}), one revoked; a write outside '{_prefix}:*' was refused: {denied.Message}");
        Assert.Equal(Enumerable.Range(1, 50), sums);
        Assert.Equal(42, delayed);
        Assert.Contains("NOPERM", denied.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_with_a_wrong_password_fails_to_start_with_a_message_naming_the_address_and_the_user()
    {
        const string Wrong = "not-the-password-7";
        // A generous connect timeout: on a loaded machine the refusal must still arrive before the attempt times out.
        (int exit, string[] lines, long ms) = await RunWorkerToExitAsync($"127.0.0.1:{_port},user=app,password={Wrong},connectTimeout=15000");
        string text = string.Join("\n", lines);
        int frames = lines.Count(l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        output.WriteLine($"OBSERVED: exit code {exit} after {ms} ms, {lines.Length} lines of output, {frames} stack frames:\n{text}");
        Assert.NotEqual(0, exit);
        Assert.DoesNotContain(lines, l => l.StartsWith("READY", StringComparison.Ordinal));
        Assert.Contains($"Redis at 127.0.0.1:{_port} refused the credentials: user 'app'", text, StringComparison.Ordinal);
        Assert.Contains("WRONGPASS", text, StringComparison.Ordinal);
        Assert.DoesNotContain(Wrong, text, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith($"celeriac-test-worker: cannot start: Redis at 127.0.0.1:{_port} refused the credentials", StringComparison.Ordinal));
        Assert.Equal(0, frames);
        Assert.DoesNotContain("IOCP", text, StringComparison.Ordinal); // none of the client library's diagnostic dump
        Assert.True(ms < 40_000, $"the worker took {ms} ms to give up"); // a hang guard: connect timeout 15 s plus start-up
    }

    [Fact]
    public async Task When_the_client_library_gives_no_reason_our_own_AUTH_names_the_refused_credentials()
    {
        // The probe that runs when StackExchange.Redis gives up before its AUTH is answered (seen in full test runs: the
        // refusal then read "no server answered within the connect timeout").
        const string Wrong = "not-the-password-8";
        InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => Celeriac.Redis.RedisBroker.ThrowIfAuthRefusedAsync(StackExchange.Redis.ConfigurationOptions.Parse($"127.0.0.1:{_port},user=app,password={Wrong}"), $"127.0.0.1:{_port}", CancellationToken.None));
        output.WriteLine($"OBSERVED: {refused.Message}");
        Assert.StartsWith($"Redis at 127.0.0.1:{_port} refused the credentials: user 'app' with a password (not shown). The server said: WRONGPASS", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Wrong, refused.Message, StringComparison.Ordinal);

        // The right credentials: the probe finds nothing to report.
        await Celeriac.Redis.RedisBroker.ThrowIfAuthRefusedAsync(StackExchange.Redis.ConfigurationOptions.Parse($"127.0.0.1:{_port},user=app,password={AppPassword}"), $"127.0.0.1:{_port}", CancellationToken.None);
    }

    [Fact]
    public async Task A_worker_given_a_host_that_does_not_resolve_fails_to_start_with_a_message_naming_it()
    {
        (int exit, string[] lines, long ms) = await RunWorkerToExitAsync("no-such-redis.invalid:6379");
        string text = string.Join("\n", lines);
        output.WriteLine($"OBSERVED: exit code {exit} after {ms} ms:\n{text}");
        Assert.NotEqual(0, exit);
        Assert.DoesNotContain(lines, l => l.StartsWith("READY", StringComparison.Ordinal));
        Assert.Contains("the host name 'no-such-redis.invalid' does not resolve", text, StringComparison.Ordinal);
    }

    /// <summary>Runs the test worker until it exits by itself (bounded); its ledger is on the ordinary test Redis.</summary>
    private async Task<(int Exit, string[] Lines, long Ms)> RunWorkerToExitAsync(string redis)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])[WorkerProcess.WorkerDll, "--redis", redis, "--ledger", RedisFixture.Configuration, "--prefix", _prefix, "--queues", "default"])
        {
            start.ArgumentList.Add(arg);
        }

        var clock = Stopwatch.StartNew();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the test worker.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The worker was still running after 30 s. Its output so far:\n{await stdout}\n{await stderr}");
        }

        string all = (await stdout) + (await stderr);
        return (process.ExitCode, all.Split('\n', StringSplitOptions.RemoveEmptyEntries), clock.ElapsedMilliseconds);
    }
}
