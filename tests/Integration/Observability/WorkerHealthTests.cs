using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Observability;

/// <summary>Readiness and health (docs/observability.md): <see cref="WorkerStatus.Ready"/> completes once the worker consumes; the ready check is Degraded while a real redis-server is down.</summary>
public sealed class WorkerHealthTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Ready_completes_only_once_the_worker_consumes()
    {
        string prefix = RedisFixture.NewPrefix();
        await using CeleriacClient sender = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<int> early = await Calc.AddTask.DelayAsync(sender, 1, 2); // waiting before any worker exists
        using IHost host = Build(RedisFixture.Configuration, prefix, "ready");
        WorkerStatus status = host.Services.GetRequiredService<WorkerStatus>();
        HealthCheckService health = host.Services.GetRequiredService<HealthCheckService>();

        Assert.False(status.Ready.IsCompleted);
        Assert.False(status.IsRunning);
        HealthReport before = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, before.Entries[CeleriacHealthCheckBuilderExtensions.ReadyCheckName].Status);
        Assert.Equal(HealthStatus.Unhealthy, before.Entries[CeleriacHealthCheckBuilderExtensions.LiveCheckName].Status);
        Assert.Equal(1, await sender.GetQueueLengthAsync("default"));

        await host.StartAsync();
        try
        {
            await status.Ready.WaitAsync(Timeout); // a hang guard only
            Assert.True(status.Ready.IsCompletedSuccessfully);
            // Ready means the first fetch was answered: the task that waited has been taken off its queue already.
            Assert.Equal(0, await sender.GetQueueLengthAsync("default"));
            HealthReport ready = await health.CheckHealthAsync();
            output.WriteLine(string.Join("; ", ready.Entries.Select(e => $"{e.Key}: {e.Value.Status} ({e.Value.Description})")));
            Assert.Equal(HealthStatus.Healthy, ready.Entries[CeleriacHealthCheckBuilderExtensions.ReadyCheckName].Status);
            Assert.Equal(HealthStatus.Healthy, ready.Entries[CeleriacHealthCheckBuilderExtensions.LiveCheckName].Status);
            Assert.Equal(3, await early.GetAsync(Timeout));
        }
        finally
        {
            await host.StopAsync();
        }

        Assert.False(status.IsRunning);
        HealthReport after = await health.CheckHealthAsync(check => check.Tags.Contains("live"));
        Assert.Equal(HealthStatus.Unhealthy, after.Status);
    }

    [Fact]
    public async Task Ready_check_is_Degraded_while_redis_is_down_and_Healthy_when_it_is_back()
    {
        using RedisServer redis = await RedisServer.StartAsync(output, aof: false);
        using IHost host = Build(redis.Configuration, RedisFixture.NewPrefix(), "outage");
        WorkerStatus status = host.Services.GetRequiredService<WorkerStatus>();
        HealthCheckService health = host.Services.GetRequiredService<HealthCheckService>();
        async Task<HealthStatus> Check(string tag) => (await health.CheckHealthAsync(check => check.Tags.Contains(tag))).Status;

        await host.StartAsync();
        try
        {
            await status.Ready.WaitAsync(Timeout); // a hang guard only
            Assert.Equal(HealthStatus.Healthy, await Check("ready"));

            redis.Stop();
            await Wait.UntilAsync(async () => await Check("ready") == HealthStatus.Degraded, Timeout, "the ready check to report Degraded while Redis is down");
            output.WriteLine($"down: {status}");
            Assert.False(status.IsBrokerReachable);
            Assert.NotNull(status.BrokerError);
            Assert.NotNull(status.UnreachableSince);
            Assert.Equal(HealthStatus.Healthy, await Check("live")); // a restart would not bring Redis back

            await redis.StartAgainAsync();
            await Wait.UntilAsync(async () => await Check("ready") == HealthStatus.Healthy, TimeSpan.FromSeconds(60), "the ready check to be Healthy once Redis is back");
            output.WriteLine($"back: {status}");
            Assert.True(status.IsBrokerReachable);
            Assert.Null(status.BrokerError);
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            Assert.Equal(7, await (await Calc.AddTask.DelayAsync(client, 3, 4)).GetAsync(Timeout));
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    private IHost Build(string redis, string prefix, string name)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(output, name));
        builder.Services.AddSingleton<ILedger>(new MemoryLedger());
        builder.Services.AddCeleriac(o =>
        {
            o.Redis = redis;
            o.KeyPrefix = prefix;
            o.VisibilityTimeout = TimeSpan.FromSeconds(5);
        }).AddWorker(w =>
        {
            w.Queues = [.. TestHost.Queues];
            w.FetchWait = TimeSpan.FromMilliseconds(200);
            w.Name = name;
        });
        builder.Services.AddHealthChecks().AddCeleriacWorker();
        return builder.Build();
    }
}
