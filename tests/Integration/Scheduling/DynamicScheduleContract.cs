using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.Scheduling;

/// <summary>
/// Schedules added, paused, resumed, triggered and removed at run time through <see cref="CeleriacClient.Schedules"/>,
/// with a worker host whose scheduler and consumers run them: once on Redis, once on the in-process broker.
/// </summary>
public abstract class DynamicScheduleContract(ITestOutputHelper output)
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(20); // hang guards, not timing assertions

    protected ITestOutputHelper Output { get; } = output;

    private protected abstract string? Redis { get; }

    [Fact]
    public async Task A_schedule_added_while_running_sends_its_task_with_its_arguments_and_can_be_paused_resumed_triggered_and_removed()
    {
        string name = "sched-" + Guid.NewGuid().ToString("N")[..6];
        IHost host = await TestHost.StartAsync(Output, name, Redis, RedisFixture.NewPrefix(), new MemoryLedger(), worker: w => w.SchedulerRefresh = TimeSpan.FromMilliseconds(100));
        try
        {
            CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
            await client.Schedules.UpsertAsync("add-every-second", Recurrence.Interval(TimeSpan.FromSeconds(1)), c => Calc.AddTask.DelayAsync(c, 2, 3));

            ScheduleInfo first = await UntilAsync(client, s => s.LastTaskId is not null, "the first tick");
            Output.WriteLine($"listed: next {first.NextTick:O}, last {first.LastTick:O}, task {first.LastTaskId}, by {first.LastClaimedBy}");
            Assert.Equal(5, await Calc.AddTask.Handle(client, first.LastTaskId!, "default").GetAsync(Guard));
            Assert.Equal((Calc.AddTask.Name, "default", TimeSpan.FromSeconds(1), false, false), (first.TaskName, first.Queue, first.Every, first.IsStatic, first.Paused));
            Assert.Equal(name, first.LastClaimedBy);
            Assert.True(first.NextTick > first.LastTick, "the next tick follows the last one");

            Assert.True(await client.Schedules.PauseAsync("add-every-second"));
            ScheduleInfo paused = await UntilAsync(client, s => s.Paused, "paused");
            ScheduleInfo passed = await UntilAsync(client, s => s.LastTick > paused.LastTick.GetValueOrDefault().AddSeconds(1), "two ticks while paused");
            Assert.Equal(paused.LastTaskId, passed.LastTaskId); // ticks consumed, no task sent

            Assert.True(await client.Schedules.ResumeAsync("add-every-second"));
            ScheduleInfo resumed = await UntilAsync(client, s => !s.Paused && s.LastTaskId != paused.LastTaskId, "a tick after resuming");
            Assert.Equal(5, await Calc.AddTask.Handle(client, resumed.LastTaskId!, "default").GetAsync(Guard));

            string triggered = await client.Schedules.TriggerAsync("add-every-second");
            Assert.Equal(5, await Calc.AddTask.Handle(client, triggered, "default").GetAsync(Guard));

            Assert.True(await client.Schedules.RemoveAsync("add-every-second"));
            Assert.DoesNotContain(await client.Schedules.ListAsync(), s => s.Name == "add-every-second");
            Assert.False(await client.Schedules.RemoveAsync("add-every-second"));
            await Assert.ThrowsAsync<InvalidOperationException>(() => client.Schedules.TriggerAsync("add-every-second"));
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    [Fact]
    public async Task A_schedule_call_that_does_not_send_exactly_one_task_or_sets_per_send_options_is_refused()
    {
        IHost host = await TestHost.StartAsync(Output, "refuse", Redis, RedisFixture.NewPrefix(), new MemoryLedger(), worker: w => w.Scheduler = false);
        try
        {
            ScheduleClient schedules = host.Services.GetRequiredService<CeleriacClient>().Schedules;
            Recurrence every = Recurrence.Interval(TimeSpan.FromSeconds(5));
            await Assert.ThrowsAsync<ArgumentException>(() => schedules.UpsertAsync("none", every, _ => ValueTask.FromResult(0)));
            await Assert.ThrowsAsync<ArgumentException>(() => schedules.UpsertAsync("two", every, async c =>
            {
                await Calc.AddTask.DelayAsync(c, 1, 1);
                return await Calc.AddTask.DelayAsync(c, 2, 2);
            }));
            await Assert.ThrowsAsync<ArgumentException>(() => schedules.UpsertAsync("eta", every, async c => await Calc.AddTask.ApplyAsync(c, 1, 1, new TaskOptions { Countdown = TimeSpan.FromSeconds(1) })));
            await Assert.ThrowsAsync<ArgumentException>(() => schedules.UpsertAsync("bad name!", every, async c => await Calc.AddTask.DelayAsync(c, 1, 1)));
            Assert.Throws<ArgumentException>(() => Recurrence.Cron("0 3 * * *", "Mars/Olympus_Mons"));
            Assert.Throws<ArgumentException>(() => Recurrence.Cron("61 * * * *"));
            Assert.Throws<ArgumentOutOfRangeException>(() => Recurrence.Interval(TimeSpan.FromMilliseconds(500)));
            Assert.Empty(await schedules.ListAsync());
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    private static async Task<ScheduleInfo> UntilAsync(CeleriacClient client, Func<ScheduleInfo, bool> condition, string what)
    {
        DateTime giveUp = DateTime.UtcNow + Guard;
        while (true)
        {
            ScheduleInfo? info = (await client.Schedules.ListAsync()).SingleOrDefault(s => s.Name == "add-every-second");
            if (info is not null && condition(info))
            {
                return info;
            }

            Assert.True(DateTime.UtcNow < giveUp, "never saw " + what);
            await Task.Delay(50);
        }
    }
}

/// <summary>Dynamic schedules on Redis.</summary>
public sealed class RedisDynamicScheduleTests(ITestOutputHelper output) : DynamicScheduleContract(output)
{
    private protected override string? Redis => RedisFixture.Configuration;
}

/// <summary>Dynamic schedules on the in-process broker.</summary>
public sealed class InMemoryDynamicScheduleUnitTests(ITestOutputHelper output) : DynamicScheduleContract(output)
{
    private protected override string? Redis => null;
}
