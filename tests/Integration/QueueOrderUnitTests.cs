using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests;

/// <summary>Strict and weighted queue order: strict serves the first queue while it has work; weighted never starves a queue.</summary>
public sealed class QueueOrderUnitTests(ITestOutputHelper output)
{
    [Fact]
    public void Weighted_order_puts_each_queue_first_in_proportion_to_its_weight()
    {
        var selector = new QueueSelector(["high", "low"], QueueOrder.Weighted, new Dictionary<string, int> { ["high"] = 9 }, new Random(42));
        int lowFirst = 0;
        const int Draws = 20_000;
        for (int i = 0; i < Draws; i++)
        {
            IReadOnlyList<string> order = selector.Next();
            Assert.Equal(2, order.Count);
            Assert.Equal(["high", "low"], order.Order(StringComparer.Ordinal));
            lowFirst += order[0] == "low" ? 1 : 0;
        }

        double share = lowFirst / (double)Draws;
        output.WriteLine($"low first in {share:P1} of {Draws} fetches (weight 1 of 10)");
        Assert.InRange(share, 0.08, 0.12);
    }

    [Fact]
    public void Strict_order_is_the_listed_order()
    {
        var selector = new QueueSelector(["a", "b", "c"], QueueOrder.Strict, new Dictionary<string, int>());
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(["a", "b", "c"], selector.Next());
        }
    }

    [Theory]
    [InlineData(QueueOrder.Strict)]
    [InlineData(QueueOrder.Weighted)]
    public async Task A_worker_on_two_loaded_queues_follows_its_queue_order(QueueOrder queueOrder)
    {
        var ledger = new MemoryLedger();
        string run = "order-" + queueOrder;
        IHost host = await TestHost.StartAsync(output, "worker", redis: null, prefix: "qo", ledger, worker: w =>
        {
            w.Queues = ["high", "low"];
            w.QueueOrder = queueOrder;
            w.QueueWeights = new Dictionary<string, int> { ["high"] = 3, ["low"] = 1 };
            w.Concurrency = 1;
            w.Prefetch = 1;
        });
        try
        {
            // Every task becomes due at the same instant, so both queues are loaded when the worker starts choosing.
            var client = host.Services.GetRequiredService<CeleriacClient>();
            DateTimeOffset due = DateTimeOffset.UtcNow.AddMilliseconds(500);
            var handles = new List<TaskHandle<int>>();
            for (int i = 0; i < 60; i++)
            {
                handles.Add(await Work.RecordTask.ApplyAsync(client, run, 1000 + i, new TaskOptions { Queue = "low", Eta = due }));
                handles.Add(await Work.RecordTask.ApplyAsync(client, run, i, new TaskOptions { Queue = "high", Eta = due }));
            }

            foreach (TaskHandle<int> handle in handles)
            {
                await handle.GetAsync(TimeSpan.FromSeconds(30));
            }

            IReadOnlyList<string> order = await ledger.ReadAsync(run);
            int lowInFirst40 = order.Take(40).Count(n => int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) >= 1000);
            output.WriteLine($"{queueOrder}: {lowInFirst40} of the first 40 runs came from 'low' (weights high 3, low 1)");
            if (queueOrder == QueueOrder.Strict)
            {
                Assert.Equal(0, lowInFirst40);
            }
            else
            {
                Assert.InRange(lowInFirst40, 3, 20);
            }
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }
}
