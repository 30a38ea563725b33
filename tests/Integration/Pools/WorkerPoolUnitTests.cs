using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Celeriac.IntegrationTests.Pools;

/// <summary>
/// Per-queue pools without Redis: the options (validation messages, configuration binding, <c>AddPool</c>) and a worker
/// with a pool on the in-process broker.
/// </summary>
public sealed class WorkerPoolUnitTests(ITestOutputHelper output)
{
    [Fact]
    public void A_queue_in_two_pools_is_an_error_that_names_both()
    {
        var options = new WorkerOptions { Queues = ["default"] };
        options.Pools["reports"] = new WorkerPool { Queues = ["reports", "pdf"] };
        options.Pools["exports"] = new WorkerPool { Queues = ["pdf"] };
        string? problem = options.Validate();
        Assert.NotNull(problem);
        output.WriteLine(problem);
        Assert.Contains("'pdf' is in two pools", problem, StringComparison.Ordinal);
        Assert.Contains("Celeriac:Worker:Pools:reports", problem, StringComparison.Ordinal);
        Assert.Contains("Celeriac:Worker:Pools:exports", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pool_that_takes_a_queue_of_the_worker_itself_is_an_error()
    {
        var options = new WorkerOptions(); // the worker's own queue: default
        options.Pools["reports"] = new WorkerPool { Queues = ["reports", "default"] };
        string? problem = options.Validate();
        Assert.NotNull(problem);
        output.WriteLine(problem);
        Assert.Contains("'default' is in two pools", problem, StringComparison.Ordinal);
        Assert.Contains("the worker's own Celeriac:Worker:Queues", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Concurrency", "Celeriac:Worker:Pools:reports:Concurrency must be at least 1")]
    [InlineData("Prefetch", "Celeriac:Worker:Pools:reports:Prefetch must be 0")]
    [InlineData("CpuThreads", "Celeriac:Worker:Pools:reports:CpuThreads must be 0")]
    [InlineData("Execution", "Celeriac:Worker:Pools:reports:Execution must be Pool or Cpu")]
    [InlineData("Queues", "Celeriac:Worker:Pools:reports:Queues contains 'a{b}'")]
    public void A_bad_pool_setting_is_an_error_that_names_it(string setting, string expected)
    {
        var pool = new WorkerPool { Concurrency = 4 };
        switch (setting)
        {
            case "Concurrency": pool.Concurrency = 0; break;
            case "Prefetch": pool.Prefetch = 2; break;
            case "CpuThreads": pool.CpuThreads = -1; break;
            case "Execution": pool.Execution = (TaskExecution)7; break;
            default: pool.Queues = ["a{b}"]; break;
        }

        var options = new WorkerOptions();
        options.Pools["reports"] = pool;
        string? problem = options.Validate();
        Assert.NotNull(problem);
        output.WriteLine(problem);
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pool_name_with_a_slash_is_an_error()
    {
        var options = new WorkerOptions();
        options.Pools["a/b"] = new WorkerPool { Queues = ["ab"] };
        string? problem = options.Validate();
        Assert.NotNull(problem);
        Assert.Contains("a pool named 'a/b'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Pools_bind_from_configuration_by_name()
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Celeriac:Worker:Queues:0"] = "default",
            ["Celeriac:Worker:Pools:reports:Concurrency"] = "2",
            ["Celeriac:Worker:Pools:reports:Prefetch"] = "6",
            ["Celeriac:Worker:Pools:reports:Execution"] = "Cpu",
            ["Celeriac:Worker:Pools:reports:CpuThreads"] = "1",
            ["Celeriac:Worker:Pools:exports:Queues:0"] = "csv",
            ["Celeriac:Worker:Pools:exports:Queues:1"] = "pdf",
        }).Build();
        var services = new ServiceCollection();
        services.AddCeleriac().AddWorker(configuration.GetSection("Celeriac:Worker"));
        using ServiceProvider provider = services.BuildServiceProvider();
        WorkerOptions options = provider.GetRequiredService<IOptions<WorkerOptions>>().Value;

        Assert.Equal(["exports", "reports"], options.Pools.Keys.Order(StringComparer.Ordinal));
        WorkerPool reports = options.Pools["reports"];
        Assert.Equal(2, reports.Concurrency);
        Assert.Equal(6, reports.Prefetch);
        Assert.Equal(TaskExecution.Cpu, reports.Execution);
        Assert.Equal(1, reports.CpuThreads);
        Assert.Empty(reports.Queues); // its queue is its name
        Assert.Equal(["csv", "pdf"], options.Pools["exports"].Queues);
        Assert.Equal(WorkerOptions.DefaultConcurrency, options.Pools["exports"].Concurrency);
        Assert.Null(options.Validate());
    }

    [Fact]
    public void AddPool_alone_adds_the_worker()
    {
        var services = new ServiceCollection();
        services.AddCeleriac().AddPool("reports", p => p.Concurrency = 1);
        Assert.Contains(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.Name == "CeleriacWorker");
    }

    [Fact]
    public void AddPool_adds_a_pool_and_changes_it_when_called_again()
    {
        var services = new ServiceCollection();
        services.AddCeleriac().UseCatalog(Catalog())
            .AddWorker(w => w.Queues = ["default"])
            .AddPool("reports", p => p.Concurrency = 1)
            .AddPool("reports", p => p.Prefetch = 4)
            .AddPool("images", p => p.Queues = ["thumbnails", "resize"]);
        using ServiceProvider provider = services.BuildServiceProvider();
        WorkerOptions options = provider.GetRequiredService<IOptions<WorkerOptions>>().Value;
        Assert.Equal(1, options.Pools["reports"].Concurrency);
        Assert.Equal(4, options.Pools["reports"].Prefetch);
        Assert.Equal(["thumbnails", "resize"], options.Pools["images"].Queues);
        Assert.Contains(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.Name == "CeleriacWorker");
    }

    [Fact]
    public async Task A_conflicting_pool_stops_the_host_from_starting_with_a_message_that_names_both()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac().UseCatalog(Catalog())
            .AddWorker(w => w.Queues = ["default"])
            .AddPool("reports", p => p.Concurrency = 1)
            .AddPool("late", p => p.Queues = ["late", "default"]);
        using IHost host = builder.Build();
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        output.WriteLine(error.Message);
        Assert.Contains("The queue 'default' is in two pools: Celeriac:Worker:Pools:late and the worker's own Celeriac:Worker:Queues", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_with_a_pool_runs_both_pools_tasks_on_the_in_process_broker()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<TestTasks.ILedger>(new TestTasks.MemoryLedger());
        builder.Services.AddCeleriac()
            .AddWorker(w =>
            {
                w.Queues = ["default"];
                w.Name = "inproc";
                w.FetchWait = TimeSpan.FromMilliseconds(100);
                w.ShutdownTimeout = TimeSpan.FromSeconds(2);
            })
            .AddPool("reports", p => p.Concurrency = 1);
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<int> onDefault = await TestTasks.Calc.AddTask.DelayAsync(client, 1, 2);
            TaskHandle<int> onReports = await TestTasks.Calc.AddTask.ApplyAsync(client, 3, 4, new TaskOptions { Queue = "reports" });
            Assert.Equal(3, await onDefault.GetAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(7, await onReports.GetAsync(TimeSpan.FromSeconds(20)));
            TaskResult first = await onDefault.GetResultAsync();
            TaskResult second = await onReports.GetResultAsync();
            output.WriteLine($"default: {first.State} by {first.Worker}; reports: {second.State} by {second.Worker}");
            Assert.Equal("inproc", first.Worker);
            Assert.Equal("inproc/reports", second.Worker);
        }
        finally
        {
            await host.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>A catalog of one task (the validation tests need tasks, not these).</summary>
    private static TaskCatalog Catalog()
    {
        var catalog = new TaskCatalog();
        catalog.Add(new TaskRegistration("pools.echo", TaskAttribute.DefaultQueue, static (_, _, _) => ValueTask.CompletedTask));
        return catalog;
    }
}
