using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Celeriac.IntegrationTests;

/// <summary>
/// A worker refuses to start on a queue that no loaded task assembly declares, and a client refuses to send to one, both
/// saying which ones are declared; a queue name that is not valid is refused the same way everywhere.
/// </summary>
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

    [Fact]
    public async Task A_send_to_an_undeclared_string_queue_fails_listing_the_declared_ones()
    {
        var catalog = new TaskCatalog();
        catalog.DeclareQueue("billing");
        using IHost host = BuildClient(catalog);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        ArgumentException error = await Assert.ThrowsAsync<ArgumentException>(async () => await Calc.AddTask.ApplyAsync(client, 1, 2, new TaskOptions { Queue = "biling" }));
        output.WriteLine(error.Message);
        Assert.Contains("'biling'", error.Message, StringComparison.Ordinal);
        Assert.Contains("Declared queues: 'billing', 'default'", error.Message, StringComparison.Ordinal);

        string id = (await Calc.AddTask.ApplyAsync(client, 1, 2, new TaskOptions { Queue = "billing" })).Id;
        Assert.Equal(1, await ((CeleriacClient)client).GetQueueLengthAsync("billing"));
        Assert.False(string.IsNullOrEmpty(id));
    }

    [Fact]
    public async Task Without_declarations_a_string_queue_is_sent_as_asked()
    {
        using IHost host = BuildClient(new TaskCatalog());
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        await Calc.AddTask.ApplyAsync(client, 1, 2, new TaskOptions { Queue = "anything" });
        Assert.Equal(1, await ((CeleriacClient)client).GetQueueLengthAsync("anything"));
    }

    [Theory]
    [InlineData("bill{ing}", "'{' and '}' are not allowed")]
    [InlineData("bill ing", "only ASCII letters")]
    [InlineData("", "it is empty")]
    public async Task A_queue_name_that_is_not_valid_is_refused_by_the_client_the_worker_options_and_QueueName_alike(string queue, string problem)
    {
        using IHost host = BuildClient(new TaskCatalog());
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        ArgumentException send = await Assert.ThrowsAsync<ArgumentException>(async () => await Calc.AddTask.ApplyAsync(client, 1, 2, new TaskOptions { Queue = queue }));
        string? worker = new WorkerOptions { Queues = [queue] }.Validate();
        ArgumentException typed = Assert.Throws<ArgumentException>(() => new QueueName(queue));
        output.WriteLine($"send: {send.Message}\nworker: {worker}\nQueueName: {typed.Message}");
        Assert.Contains(problem, send.Message, StringComparison.Ordinal);
        Assert.Contains(problem, worker, StringComparison.Ordinal);
        Assert.Contains(problem, typed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Countdown_and_Eta_together_are_refused_at_send()
    {
        using IHost host = BuildClient(new TaskCatalog());
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        var options = new TaskOptions { Countdown = TimeSpan.FromMinutes(1), Eta = DateTimeOffset.UtcNow.AddHours(1) };
        ArgumentException error = await Assert.ThrowsAsync<ArgumentException>(async () => await Calc.AddTask.ApplyAsync(client, 1, 2, options));
        output.WriteLine(error.Message);
        Assert.Contains("Countdown", error.Message, StringComparison.Ordinal);
        Assert.Contains("Eta", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, await ((CeleriacClient)client).GetQueueLengthAsync("default"));
    }

    private static IHost BuildClient(TaskCatalog catalog)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac().UseCatalog(catalog);
        return builder.Build();
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
