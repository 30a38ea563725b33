using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// <c>[Task(RateLimit = "5/s")]</c> (<see cref="Calc.Paced"/>): per worker, starts are spaced at least 200 ms apart
/// however many consumers are free; a stop hands the tasks still waiting for their turn back to the queue.
/// </summary>
public sealed class RateLimitTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _prefix = RedisFixture.NewPrefix();
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task Starts_of_a_rate_limited_task_are_spaced_by_its_interval_in_one_worker()
    {
        ITaskClient client = await StartAsync();
        long sent = Stopwatch.GetTimestamp();
        TaskHandle<long>[] handles = await Calc.PacedTask.DelayManyAsync(client, [.. Enumerable.Range(0, 8)]);
        long[] starts = await Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(30))));
        Array.Sort(starts);
        double[] fromSend = [.. starts.Select(t => Stopwatch.GetElapsedTime(sent, t).TotalMilliseconds)];
        output.WriteLine($"starts after the send (ms): {string.Join(", ", fromSend.Select(ms => ms.ToString("0")))}");

        // Eight starts at 5/s: the last one's turn is 7 intervals after the first reservation, which came after the send.
        // (A slow machine only makes starts later; timers may fire a few ms early; a limiter that let two through at once
        // would put the last start at 1,200 ms.)
        Assert.True(fromSend[^1] >= (7 * 200) - 50, $"the eighth start came {fromSend[^1]:0} ms after the send; at 5/s it cannot come before 1,400 ms");
    }

    [Fact]
    public async Task A_stop_hands_back_the_rate_limited_tasks_still_waiting_for_their_turn()
    {
        IHost host = await StartHostAsync();
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        TaskHandle<long>[] handles = await Calc.PacedTask.DelayManyAsync(client, [.. Enumerable.Range(0, 20)]);
        await Wait.UntilAsync(async () => (await handles[0].GetStateAsync()) == TaskState.Success, TimeSpan.FromSeconds(20), "the first to run");
        var clock = Stopwatch.StartNew();
        await host.StopAsync(CancellationToken.None);
        long stopMs = clock.ElapsedMilliseconds;

        IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();
        var keys = new RedisKeys(_prefix);
        int done = 0;
        foreach (TaskHandle<long> h in handles)
        {
            done += await h.GetStateAsync() == TaskState.Success ? 1 : 0;
        }

        long pending = await db.ListLengthAsync(keys.Pending("slow"));
        long leased = await db.SortedSetLengthAsync(keys.Active("slow"));
        output.WriteLine($"stopped in {stopMs} ms: {done} ran, {pending} handed back to the queue, {leased} still leased");
        Assert.Equal(20, done + pending);
        Assert.Equal(0, leased);
        Assert.InRange(done, 1, 19);

        // A new worker runs the rest, each once.
        ITaskClient again = await StartAsync();
        long[] all = await Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(30))));
        Assert.Equal(20, all.Length);
    }

    private async Task<ITaskClient> StartAsync() => (await StartHostAsync()).Services.GetRequiredService<ITaskClient>();

    private async Task<IHost> StartHostAsync()
    {
        IHost host = await TestHost.StartAsync(output, "paced", RedisFixture.Configuration, _prefix, new MemoryLedger(),
            celeriac: o => o.VisibilityTimeout = TimeSpan.FromSeconds(30),
            worker: w =>
            {
                w.Queues = ["slow"];
                w.Concurrency = 8;
            });
        _hosts.Add(host);
        return host;
    }
}
