using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// <see cref="WorkerOptions.MaxMemoryInFlight"/>: what a worker holds is bounded by its memory budget, not by its
/// concurrency. Large messages are fetched only while the budget has room, a run whose argument elements do not fit waits,
/// and every task still runs. The same workloads without a budget show the bound is the budget's doing.
/// </summary>
[Collection(nameof(MemoryBudgetTests))] // Bulky's peak is process-wide: these tests do not run beside each other
public sealed class MemoryBudgetTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Concurrency = 16;
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync()
    {
        Bulky.Reset();
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Theory]
    [InlineData(1024 * 1024, 2)] // 300 KB messages are charged ~900 KB each: one fits, the fetch then takes one more at most
    [InlineData(0, Concurrency)] // no budget: the concurrency is the only bound
    public async Task Large_messages_are_fetched_only_while_the_budget_has_room(long budget, int expectedPeakAtMost)
    {
        ITaskClient client = await StartAsync(budget);
        string payload = new('x', 300_000);
        TaskHandle<int>[] handles = await Bulky.HoldTask.DelayManyAsync(client, [.. Enumerable.Range(0, 24).Select(_ => (payload, 150))]);
        int[] lengths = await Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(60))));
        output.WriteLine($"budget {budget} B, concurrency {Concurrency}: peak {Bulky.Peak} runs at once");

        Assert.All(lengths, l => Assert.Equal(payload.Length, l)); // every task ran, none lost
        Assert.InRange(Bulky.Peak, 1, expectedPeakAtMost);
        if (budget == 0)
        {
            Assert.True(Bulky.Peak > 2, $"without a budget the runs should overlap beyond the budget's bound (peak {Bulky.Peak})");
        }
    }

    [Theory]
    [InlineData(4 * 1024 * 1024, 1)] // 60,000 elements are charged 3.8 MB each: they run one at a time
    [InlineData(0, Concurrency)]
    public async Task Runs_whose_elements_do_not_fit_wait_for_room(long budget, int expectedPeakAtMost)
    {
        ITaskClient client = await StartAsync(budget);
        int[] values = [.. Enumerable.Range(0, 60_000).Select(i => i % 100)]; // one byte each: ~60 KB messages
        TaskHandle<int>[] handles = await Bulky.HoldManyTask.DelayManyAsync(client, [.. Enumerable.Range(0, 12).Select(_ => (values, 150))]);
        int[] counts = await Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(60))));
        output.WriteLine($"budget {budget} B, concurrency {Concurrency}: peak {Bulky.Peak} runs at once");

        Assert.All(counts, c => Assert.Equal(values.Length, c));
        Assert.InRange(Bulky.Peak, 1, expectedPeakAtMost);
        if (budget == 0)
        {
            Assert.True(Bulky.Peak > 1, $"without a budget the runs should overlap (peak {Bulky.Peak})");
        }
    }

    private async Task<ITaskClient> StartAsync(long budget)
    {
        IHost host = await TestHost.StartAsync(output, "budget", RedisFixture.Configuration, RedisFixture.NewPrefix(), new MemoryLedger(),
            worker: w =>
            {
                w.Queues = ["default"];
                w.Concurrency = Concurrency;
                w.MaxMemoryInFlight = budget;
            });
        _hosts.Add(host);
        return host.Services.GetRequiredService<ITaskClient>();
    }
}
