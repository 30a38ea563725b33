using System.Diagnostics;
using System.Globalization;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.Deployments;

/// <summary>A worker may start before its Redis: an address where nothing listens yet is not a refusal, unlike a wrong password.</summary>
public sealed class RedisStartOrderTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IHost> _hosts = [];
    private RedisProcess? _server;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await TestHost.StopAllAsync(_hosts);
        _server?.Dispose();
    }

    [Fact]
    public async Task A_worker_started_before_its_Redis_runs_tasks_once_Redis_is_up()
    {
        int port = RedisProcess.FreePort();
        string redis = $"127.0.0.1:{port}";
        string prefix = RedisFixture.NewPrefix();
        var clock = Stopwatch.StartNew();
        IHost worker = await TestHost.StartAsync(output, "early-worker", redis, prefix, new MemoryLedger());
        _hosts.Add(worker);
        long startedMs = clock.ElapsedMilliseconds;

        string dir = Directory.CreateTempSubdirectory("celeriac-late-").FullName;
        _server = RedisProcess.Start("late-redis", ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"]);
        ITaskClient client = worker.Services.GetRequiredService<ITaskClient>();
        TaskHandle<int> handle = await Calc.AddTask.DelayAsync(client, 40, 2);
        int sum = await handle.GetAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"OBSERVED: the worker started {startedMs} ms after it was given {redis} with nothing listening; Redis started then; the first task's result came {clock.ElapsedMilliseconds - startedMs} ms later");
        Assert.Equal(42, sum);
    }
}
