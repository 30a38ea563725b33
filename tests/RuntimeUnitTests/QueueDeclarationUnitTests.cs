using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Celeriac.RuntimeUnitTests;

/// <summary>A worker refuses to start on a queue that no loaded task assembly declares, and says which ones are declared.</summary>
public sealed class QueueDeclarationUnitTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_worker_listening_on_an_undeclared_queue_does_not_start()
    {
        var catalog = new TaskCatalog();
        catalog.DeclareQueue("billing");
        using IHost host = Build(catalog, ["default", "billnig"]);
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        output.WriteLine(error.Message);
        Assert.Contains("billnig", error.Message);
        Assert.Contains("billing", error.Message);
    }

    [Fact]
    public async Task A_worker_listening_on_declared_queues_starts()
    {
        var catalog = new TaskCatalog();
        catalog.DeclareQueue("billing");
        catalog.Add(new TaskRegistration("declared.noop", "billing", static (_, _, _) => ValueTask.CompletedTask));
        using IHost host = Build(catalog, ["default", "billing"]);
        await host.StartAsync();
        await host.StopAsync();
    }

    private static IHost Build(TaskCatalog catalog, List<string> queues)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac().UseCatalog(catalog).AddWorker(w =>
        {
            w.Queues = queues;
            w.FetchWait = TimeSpan.FromMilliseconds(100);
        });
        return builder.Build();
    }
}
