using Celeriac.Control;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Control;

/// <summary>The control contract on Redis, and what needs two workers on one Redis: commands reach the right one.</summary>
public sealed class ControlTests(ITestOutputHelper output) : ControlContract(output)
{
    protected override string? Redis => RedisFixture.Configuration;

    [Fact]
    public async Task Garbage_in_the_registry_or_a_command_list_is_skipped_and_the_worker_keeps_answering()
    {
        IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();
        string prefix = RedisFixture.NewPrefix();
        (_, CeleriacClient client) = await StartAsync("ctl-hostile", prefix);

        // Written by hand (a bad tool, a hand edit): a record that is not JSON, one that lacks fields, commands likewise.
        long later = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds();
        await db.SortedSetAddAsync(prefix + ":{workers}:reg", [new SortedSetEntry("junk", later), new SortedSetEntry("half", later)]);
        await db.HashSetAsync(prefix + ":{workers}:info", [new HashEntry("junk", new byte[] { 0xC1, 0xFF, 0x00 }), new HashEntry("half", "{\"id\":\"half\"}")]);
        await db.ListRightPushAsync(prefix + ":{workers}:cmd:ctl-hostile", ["not json", "{\"cmd\":\"ping\"}", "{\"id\":\"x\",\"cmd\":\"no-such-command\",\"deadline\":" + later + "}"]);

        IReadOnlyList<WorkerInfo> listed = await client.Workers.ListAsync();
        Output.WriteLine($"listed: [{string.Join(", ", listed.Select(w => w.Id))}]");
        Assert.Equal(["ctl-hostile"], listed.Select(w => w.Id));
        ControlReplies<string> ping = await client.Inspect.PingAsync("ctl-hostile", Reply);
        Assert.Equal("pong", Assert.Single(ping.Replies).Value);

        // The unknown command was answered with a refusal, the undecodable ones dropped; the list is empty now.
        IReadOnlyList<string> refusal = [.. (await db.ListRangeAsync(prefix + ":{workers}:reply:x")).Select(v => (string)v!)];
        Output.WriteLine($"reply to the unknown command: {string.Join(" | ", refusal)}");
        Assert.Contains("unknown command", Assert.Single(refusal), StringComparison.Ordinal);
        Assert.Equal(0, await db.ListLengthAsync(prefix + ":{workers}:cmd:ctl-hostile"));
    }

    [Fact]
    public async Task Active_reports_each_task_on_the_worker_that_runs_it_and_a_stopped_worker_leaves_the_registry()
    {
        _ = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        (IHost first, CeleriacClient client) = await StartAsync("ctl-one", prefix, w => w.Queues = ["default"]);
        (IHost second, _) = await StartAsync("ctl-two", prefix, w => w.Queues = ["slow"]);
        TaskHandle<int> onDefault = await Calc.HoldTask.DelayAsync(client, 30_000);
        TaskHandle<int> onSlow = await Calc.HoldTask.ApplyAsync(client, 30_000, new TaskOptions { Queue = "slow" });

        ControlReplies<IReadOnlyList<ActiveTask>> replies = null!;
        await Wait.UntilAsync(
            async () => (replies = await client.Inspect.ActiveAsync(timeout: Reply)).Replies.Count == 2 && replies.Replies.All(r => r.Value!.Count == 1),
            Bound,
            "both workers to report their task");
        foreach (WorkerReply<IReadOnlyList<ActiveTask>> reply in replies.Replies)
        {
            Output.WriteLine($"{reply.Worker}: {string.Join(", ", reply.Value!.Select(t => t.TaskId + "@" + t.Queue))}");
        }

        Assert.Equal(onDefault.Id, replies.Of("ctl-one")!.Value!.Single().TaskId);
        Assert.Equal(onSlow.Id, replies.Of("ctl-two")!.Value!.Single().TaskId);
        ControlReplies<IReadOnlyList<ActiveTask>> targeted = await client.Inspect.ActiveAsync("ctl-two", Reply);
        Assert.Equal("ctl-two", Assert.Single(targeted.Replies).Worker);

        await client.RevokeAsync(onDefault.Id);
        await client.RevokeAsync(onSlow.Id);
        await Assert.ThrowsAsync<TaskRevokedException>(() => onDefault.GetAsync(Bound));
        await Assert.ThrowsAsync<TaskRevokedException>(() => onSlow.GetAsync(Bound));

        // A graceful stop removes the entry at once, long before it would expire.
        await using CeleriacClient outside = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = Redis, KeyPrefix = prefix });
        Assert.Equal(["ctl-one", "ctl-two"], (await outside.Workers.ListAsync()).Select(w => w.Id));
        await second.StopAsync(Bound);
        Assert.Equal(["ctl-one"], (await outside.Workers.ListAsync()).Select(w => w.Id));
        ControlReplies<string> ping = await outside.Inspect.PingAsync(timeout: Reply);
        Assert.Equal("ctl-one", Assert.Single(ping.Replies).Worker);
        _ = first;
    }
}
