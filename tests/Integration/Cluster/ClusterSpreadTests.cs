using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.Cluster;

/// <summary>A worker whose queues live on different masters of a real Redis Cluster.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterSpreadTests(ITestOutputHelper output, RedisClusterFixture cluster) : IAsyncLifetime
{
    // Their hash slots (CRC16 of the name) fall in the three ranges redis-cli gives three masters: 1577, 9835, 13898.
    private static readonly string[] SpreadQueues = ["spread-2", "spread-0", "spread-1"];
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task A_worker_on_queues_of_three_masters_drains_them_all_and_wakes_at_once_for_each()
    {
        string prefix = RedisFixture.NewPrefix();
        var masters = new List<int>();
        foreach (string queue in SpreadQueues)
        {
            int slot = await cluster.Cluster.KeySlotAsync($"{prefix}:{{{queue}}}:pending");
            int master = await cluster.Cluster.MasterOfSlotAsync(slot, cluster.Cluster.Ports[0]);
            output.WriteLine($"queue {queue}: slot {slot}, master 127.0.0.1:{master}");
            masters.Add(master);
        }

        Assert.Equal(3, masters.Where(m => m > 0).Distinct().Count());

        // A long fetch wait: only a wake-up token, not the end of a wait, gets a message fetched quickly.
        var log = new RecordingOutput(output);
        IHost host = await TestHost.StartAsync(log, "spread", cluster.Configuration, prefix, new MemoryLedger(), worker: w =>
        {
            w.Queues = [.. SpreadQueues];
            w.FetchWait = TimeSpan.FromSeconds(20);
        });
        _hosts.Add(host);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();

        var handles = new List<(string Queue, int Expected, TaskHandle<int> Handle)>();
        for (int i = 0; i < 40; i++)
        {
            string queue = SpreadQueues[i % SpreadQueues.Length];
            handles.Add((queue, i + 1000, await Calc.AddTask.ApplyAsync(client, i, 1000, new TaskOptions { Queue = queue })));
        }

        var clock = Stopwatch.StartNew();
        int[] values = await Task.WhenAll(handles.Select(h => h.Handle.GetAsync(Timeout)));
        output.WriteLine($"drained 40 tasks over 3 masters in {clock.ElapsedMilliseconds} ms");
        Assert.Equal(handles.Select(h => h.Expected), values);

        // Idle now, blocked on the three slots at once: a message in any of them is picked up at once.
        long total = 0;
        foreach (string queue in SpreadQueues.Reverse().Concat(SpreadQueues))
        {
            await Task.Delay(300);
            clock.Restart();
            int value = await (await Calc.AddTask.ApplyAsync(client, 1, 2, new TaskOptions { Queue = queue })).GetAsync(Timeout);
            long ms = clock.ElapsedMilliseconds;
            output.WriteLine($"idle worker ran a task sent to {queue} after {ms} ms (fetch wait 20 s)");
            Assert.Equal(3, value);
            Assert.True(ms < 1500, $"a task sent to {queue} took {ms} ms: the worker was not woken by it");
            total += ms;
        }

        Assert.True(total < 2500, $"six tasks sent to an idle worker took {total} ms in all: it was not woken by them");
        Assert.DoesNotContain(log.Lines, line => line.Contains("Broker error", StringComparison.Ordinal));
    }
}

/// <summary>Forwards a host's log lines to the test output and keeps them for assertions.</summary>
internal sealed class RecordingOutput(ITestOutputHelper inner) : ITestOutputHelper
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public void WriteLine(string message)
    {
        _lines.Enqueue(message);
        inner.WriteLine(message);
    }

    public void WriteLine(string format, params object[] args) => WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args));
}
