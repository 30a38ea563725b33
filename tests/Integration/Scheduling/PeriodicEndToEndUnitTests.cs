using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.IntegrationTests.Scheduling;

/// <summary>
/// A schedule declared with <c>[Periodic]</c> (TestTasks' <see cref="PeriodicJobs.LeapDay"/>: 04:00 Asia/Kolkata on
/// 29 February) goes from the generator through the catalog to a worker's scheduler and consumer: on a fake clock in a
/// host with the in-process broker, the task runs once at its tick with the schedule headers.
/// </summary>
public sealed class PeriodicEndToEndUnitTests
{
    [Fact]
    public async Task A_generated_schedule_runs_its_task_once_at_its_tick_in_a_worker()
    {
        Assert.Contains(TaskCatalog.Global.Schedules, s => s.Name == "test.leap-day" && s.Cron == "0 0 4 29 2 *" && s.TimeZone == "Asia/Kolkata");
        var tick = new DateTimeOffset(2028, 2, 28, 22, 30, 0, TimeSpan.Zero); // 2028-02-29 04:00 IST
        var time = new FakeTimeProvider(tick.AddSeconds(-3));
        var ledger = new MemoryLedger();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddSingleton<ILedger>(ledger);
        builder.Services.AddCeleriac().AddWorker(w => w.FetchWait = TimeSpan.FromMilliseconds(100));
        using IHost host = builder.Build();
        await host.StartAsync();
        try
        {
            // The fake clock moves in 100 ms steps to 10 s past the tick; real time bounds the wait (a hang guard).
            DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
            while (time.GetUtcNow() < tick.AddSeconds(10) || (await ledger.ReadAsync(PeriodicJobs.LeapDayRun)).Count == 0)
            {
                Assert.True(DateTime.UtcNow < giveUp, "the leap-day task did not run");
                if (time.GetUtcNow() < tick.AddSeconds(10))
                {
                    time.Advance(TimeSpan.FromMilliseconds(100));
                }

                await Task.Delay(5);
            }

            Assert.Equal(["test.leap-day@2028-02-28T22:30:00.000Z"], await ledger.ReadAsync(PeriodicJobs.LeapDayRun));
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
