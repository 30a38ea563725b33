using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Celeriac.IntegrationTests;

/// <summary>
/// A worker that finds no tasks (its project does not run the generator, so nothing registered the tasks library's
/// tasks) refuses to start and says how to fix it, instead of dead-lettering every message as an unknown task.
/// </summary>
public sealed class NoTasksUnitTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_worker_with_no_tasks_does_not_start_and_says_to_add_the_package()
    {
        using IHost host = Build(new TaskCatalog());
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        output.WriteLine(error.Message);
        Assert.Contains("The worker has no tasks", error.Message);
        Assert.Contains("dotnet add package Celeriac", error.Message);
    }

    [Fact]
    public async Task A_worker_with_queue_declarations_but_no_tasks_does_not_start()
    {
        var catalog = new TaskCatalog();
        catalog.DeclareQueue("billing");
        using IHost host = Build(catalog);
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("The worker has no tasks", error.Message);
    }

    [Fact]
    public async Task A_worker_with_one_task_starts()
    {
        var catalog = new TaskCatalog();
        catalog.Add(new TaskRegistration("notasks.noop", TaskAttribute.DefaultQueue, static (_, _, _) => ValueTask.CompletedTask));
        using IHost host = Build(catalog);
        await host.StartAsync();
        await host.StopAsync();
    }

    private static IHost Build(TaskCatalog catalog)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac().UseCatalog(catalog).AddWorker(w => w.FetchWait = TimeSpan.FromMilliseconds(100));
        return builder.Build();
    }
}
