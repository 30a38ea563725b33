using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>Builds a worker host in this process the way an application would: Host.CreateApplicationBuilder + AddCeleriac + AddWorker.</summary>
public static class TestHost
{
    /// <summary>Queues the test tasks live on (Work.Sleep is routed to "slow").</summary>
    public static readonly string[] Queues = ["default", "slow"];

    /// <summary>Starts a host with a worker. <paramref name="redis"/> null selects the in-process broker.</summary>
    public static async Task<IHost> StartAsync(
        ITestOutputHelper output,
        string name,
        string? redis,
        string prefix,
        ILedger ledger,
        Action<CeleriacOptions>? celeriac = null,
        Action<WorkerOptions>? worker = null)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(output, name));
        builder.Services.AddSingleton(ledger);
        builder.Services
            .AddCeleriac(o =>
            {
                o.Redis = redis;
                o.KeyPrefix = prefix;
                o.VisibilityTimeout = TimeSpan.FromSeconds(5);
                celeriac?.Invoke(o);
            })
            .AddWorker(w =>
            {
                w.Queues = [.. Queues];
                w.Concurrency = 4;
                w.FetchWait = TimeSpan.FromMilliseconds(500);
                w.ShutdownTimeout = TimeSpan.FromSeconds(5);
                w.Name = name;
                worker?.Invoke(w);
            });

        IHost host = builder.Build();
        await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return host;
    }

    /// <summary>Stops and disposes hosts, bounded, never throwing from cleanup.</summary>
    public static async Task StopAllAsync(IEnumerable<IHost> hosts)
    {
        foreach (IHost host in hosts)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await host.StopAsync(cts.Token);
            }
            catch (Exception)
            {
                // Cleanup: the test's outcome is already decided.
            }
            finally
            {
                host.Dispose();
            }
        }
    }
}
