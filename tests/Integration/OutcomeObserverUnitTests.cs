using System.Collections.Concurrent;
using Celeriac.Brokers;
using Celeriac.Protocol;
using Celeriac.TestTasks;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Celeriac.IntegrationTests;

/// <summary>Every outcome a worker decides passes through its one observer, once, with its kind and reason; with nobody listening it costs nothing.</summary>
public sealed class OutcomeObserverUnitTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Each_outcome_reaches_a_listener_once_with_its_kind()
    {
        var recorder = new Recorder();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ILedger>(new MemoryLedger());
        builder.Services.AddSingleton<IOutcomeListener>(recorder);
        builder.Services.AddCeleriac().AddWorker(w =>
        {
            w.Queues = ["default", "slow"];
            w.FetchWait = TimeSpan.FromMilliseconds(100);
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<int> ok = await Calc.AddTask.DelayAsync(client, 1, 2);
            TaskHandle<int> failed = await Calc.FailTask.DelayAsync(client, "no");
            TaskHandle<int> dead = await Faults.AlwaysFailsTask.DelayAsync(client, "dead");
            TaskHandle<int> expired = await Calc.AddTask.ApplyAsync(client, 1, 1, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(300), ExpiresIn = TimeSpan.FromMilliseconds(50) });
            TaskHandle<int> held = await Calc.HoldTask.DelayAsync(client, 30_000);
            await host.Services.GetRequiredService<CeleriacClient>().RevokeAsync(held.Id);
            foreach (string id in (string[])[ok.Id, failed.Id, dead.Id, expired.Id, held.Id])
            {
                Assert.True((await client.WaitAsync(id, Timeout, CancellationToken.None)).IsReady, $"task {id} did not end");
            }
        }
        finally
        {
            await host.StopAsync();
        }

        Dictionary<string, string> seen = recorder.Outcomes.GroupBy(o => o.Id).ToDictionary(g => g.Key, g => string.Join(",", g.Select(o => o.Reason is null ? o.Kind.ToString() : $"{o.Kind}({o.Reason})")));
        output.WriteLine(string.Join(Environment.NewLine, seen.Select(kv => $"{kv.Key}: {kv.Value}")));
        string[] kinds = [.. seen.Values.OrderBy(v => v, StringComparer.Ordinal)];
        Assert.Equal(
            ["Expired", "Failed", "Retried,Retried,Failed,DeadLettered(failed)", "Revoked", "Succeeded"],
            kinds);
    }

    [Fact]
    public void A_success_with_nobody_listening_and_the_log_level_off_allocates_nothing()
    {
        var observer = new OutcomeObserver(NullLogger.Instance, [], TimeProvider.System);
        var delivery = new Delivery { Id = "id", Queue = "default", LeaseToken = "t", Envelope = Array.Empty<byte>(), DeliveryCount = 1 };
        var envelope = new Envelope { Id = "id", Task = "task", Args = default, Queue = "default" };
        observer.Succeeded(delivery, envelope, TimeProvider.System.GetTimestamp()); // warm
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            observer.Succeeded(delivery, envelope, TimeProvider.System.GetTimestamp());
            observer.Released(delivery, envelope);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"2000 outcomes with no listener and logging off: {allocated} B allocated");
        Assert.Equal(0, allocated);
    }

    private sealed class Recorder : IOutcomeListener
    {
        public ConcurrentQueue<(string Id, OutcomeKind Kind, string? Reason)> Outcomes { get; } = new();

        public void OnOutcome(in Outcome outcome) => Outcomes.Enqueue((outcome.Delivery.Id, outcome.Kind, outcome.Reason));
    }
}
