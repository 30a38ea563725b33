using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// <see cref="WorkerOptions.Autoscale"/> and <see cref="WorkerOptions.Solo"/> as a user sets them: bound from
/// configuration by the runtime's own binder, and refused with a message naming the setting when they cannot work.
/// </summary>
public sealed class AutoscaleOptionsUnitTests
{
    [Fact]
    public void Autoscale_is_off_by_default_and_bound_from_the_configuration_section()
    {
        Assert.Null(new WorkerOptions().Autoscale);
        Assert.False(new WorkerOptions().Solo);

        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Celeriac:Worker:Autoscale:Min"] = "16",
            ["Celeriac:Worker:Autoscale:Max"] = "512",
            ["Celeriac:Worker:Autoscale:IdleTime"] = "00:00:10",
        }).Build();
        var services = new ServiceCollection();
        services.AddCeleriac(o => o.Redis = null).AddWorker(configuration.GetSection("Celeriac:Worker"));
        using ServiceProvider provider = services.BuildServiceProvider();
        // The registered configuration steps (the runtime's generated binder) alone: this provider has no tasks, which
        // the worker's start-up validation would refuse.
        var options = new WorkerOptions();
        foreach (IConfigureOptions<WorkerOptions> step in provider.GetServices<IConfigureOptions<WorkerOptions>>())
        {
            step.Configure(options);
        }

        AutoscaleOptions autoscale = Assert.IsType<AutoscaleOptions>(options.Autoscale);
        Assert.Equal((16, 512, AutoscaleOptions.DefaultInterval, TimeSpan.FromSeconds(10)), (autoscale.Min, autoscale.Max, autoscale.Interval, autoscale.IdleTime));
        Assert.Null(options.Validate());
    }

    [Theory]
    [InlineData(0, 8, 1000, 30_000, "Autoscale:Min must be at least 1")]
    [InlineData(8, 4, 1000, 30_000, "Autoscale:Max must be at least Min (8)")]
    [InlineData(1, 4, 5, 30_000, "Autoscale:Interval must be between 10 ms and 1 minute")]
    [InlineData(1, 4, 2000, 1000, "Autoscale:IdleTime must be at least Interval")]
    public void Autoscale_bounds_that_cannot_work_are_refused_naming_the_setting(int min, int max, int intervalMs, int idleMs, string problem)
    {
        var options = new WorkerOptions
        {
            Autoscale = new AutoscaleOptions { Min = min, Max = max, Interval = TimeSpan.FromMilliseconds(intervalMs), IdleTime = TimeSpan.FromMilliseconds(idleMs) },
        };

        Assert.Contains(problem, options.Validate(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_prefetch_is_checked_against_the_autoscale_minimum_and_solo_excludes_autoscale()
    {
        Assert.Contains("Prefetch must be 0 (the concurrency) or at least Autoscale:Min (8)", new WorkerOptions { Prefetch = 4, Autoscale = new AutoscaleOptions { Min = 8, Max = 16 } }.Validate(), StringComparison.Ordinal);
        Assert.Null(new WorkerOptions { Concurrency = 256, Prefetch = 12, Autoscale = new AutoscaleOptions { Min = 8, Max = 16 } }.Validate());
        Assert.Contains("Solo and Celeriac:Worker:Autoscale cannot both be set", new WorkerOptions { Solo = true, Autoscale = new AutoscaleOptions() }.Validate(), StringComparison.Ordinal);
        Assert.Null(new WorkerOptions { Solo = true, Concurrency = 32, Prefetch = 64 }.Validate());
    }
}
