using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests;

/// <summary>
/// A worker given its own catalog (<c>UseCatalog</c>) registers the services of that catalog's instance tasks, not those
/// of <see cref="TaskCatalog.Global"/>, whether the catalog is set before or after the worker is added.
/// </summary>
public sealed class CustomCatalogUnitTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_instance_task_of_a_custom_catalog_gets_its_services(bool catalogFirst)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        CeleriacBuilder celeriac = builder.Services.AddCeleriac();
        if (catalogFirst)
        {
            celeriac.UseCatalog(ProbeCatalog()).AddWorker(w => w.FetchWait = TimeSpan.FromMilliseconds(100));
        }
        else
        {
            celeriac.AddWorker(w => w.FetchWait = TimeSpan.FromMilliseconds(100)).UseCatalog(ProbeCatalog());
        }

        bool probeRegistered = builder.Services.Any(d => d.ServiceType == typeof(Probe));
        bool globalsRegistered = builder.Services.Any(d => d.ServiceType == typeof(Work));
        using IHost host = builder.Build();
        await host.StartAsync();
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<int> handle = await Calc.AddTask.DelayAsync(client, 1, 2);
            TaskResult record = await client.WaitAsync(handle.Id, TimeSpan.FromSeconds(20), CancellationToken.None);
            output.WriteLine($"catalog set {(catalogFirst ? "before" : "after")} AddWorker: probe registered {probeRegistered}, Global's Work registered {globalsRegistered}; run ended {record.State} {record.Error?.Type} {record.Error?.Message}");
            Assert.Equal(TaskState.Success, record.State);
            Assert.Equal(Probe.Value, await handle.GetAsync(TimeSpan.FromSeconds(1)));
            Assert.True(probeRegistered);
            Assert.False(globalsRegistered);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>A catalog whose one task (named like Calc.Add, so the generated stub sends it) resolves a service only it registers.</summary>
    private static TaskCatalog ProbeCatalog()
    {
        var catalog = new TaskCatalog();
        catalog.Add(new TaskRegistration(
            Calc.AddTask.Name,
            TaskAttribute.DefaultQueue,
            static (_, context, result) =>
            {
                Probe probe = context.Services!.GetRequiredService<Probe>();
                var writer = new MessagePack.MessagePackWriter(result);
                writer.Write(probe.Answer);
                writer.Flush();
                return ValueTask.CompletedTask;
            },
            static services => services.TryAddScoped<Probe>()));
        return catalog;
    }

    private sealed class Probe
    {
        public const int Value = 42;

        public int Answer => Value;
    }
}
