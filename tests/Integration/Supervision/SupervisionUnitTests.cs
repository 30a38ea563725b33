using Celeriac.Hosting;
using Celeriac.Supervision;
using Microsoft.Extensions.Options;

namespace Celeriac.IntegrationTests.Supervision;

/// <summary>The supervision rules that need no process: the crash-loop back-off and the options' validation.</summary>
public sealed class SupervisionUnitTests
{
    [Fact]
    public void A_crash_restarts_at_once_and_a_crash_loop_backs_off_doubling_up_to_a_minute()
    {
        TimeSpan[] delays = [.. Enumerable.Range(1, 10).Select(Supervisor.Backoff)];
        Assert.Equal(
            [0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000],
            delays.Select(d => (int)d.TotalMilliseconds));
    }

    [Theory]
    [InlineData(-1, 0, 0, "Processes")]
    [InlineData(257, 0, 0, "Processes")]
    [InlineData(0, -1, 0, "MaxTasksPerProcess")]
    [InlineData(0, 0, 1024 * 1024, "MaxMemoryPerProcess")]
    [InlineData(0, 0, -1, "MaxMemoryPerProcess")]
    public void Out_of_range_settings_are_refused_naming_the_setting(int processes, long maxTasks, long maxMemory, string setting)
    {
        string? problem = new WorkerOptions { Processes = processes, MaxTasksPerProcess = maxTasks, MaxMemoryPerProcess = maxMemory }.Validate();
        Assert.NotNull(problem);
        Assert.Contains("Celeriac:Worker:" + setting, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_limits_accept_their_documented_range()
    {
        Assert.Null(new WorkerOptions { Processes = 256, MaxTasksPerProcess = 1, MaxMemoryPerProcess = 16L * 1024 * 1024 }.Validate());
        Assert.Null(new WorkerOptions().Validate());
    }

    [Fact]
    public void Worker_processes_without_Redis_are_refused_at_start()
    {
        var validator = new WorkerOptionsValidator(TaskCatalog.Global, Options.Create(new CeleriacOptions()));
        ValidateOptionsResult refused = validator.Validate(null, new WorkerOptions { Processes = 2 });
        Assert.True(refused.Failed);
        Assert.Contains("Celeriac:Worker:Processes needs a shared broker", refused.FailureMessage, StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new WorkerOptions()).Succeeded); // one in-process worker is fine
        Assert.True(new WorkerOptionsValidator(TaskCatalog.Global, Options.Create(new CeleriacOptions { Redis = "localhost:6379" })).Validate(null, new WorkerOptions { Processes = 2 }).Succeeded);
    }

    [Fact]
    public void A_process_no_supervisor_started_is_a_supervisor_only_when_Processes_is_set()
    {
        Assert.False(ProcessRole.For(new WorkerOptions()).IsSupervisor);
        Assert.True(ProcessRole.For(new WorkerOptions { Processes = 2 }).IsSupervisor);
        Assert.Null(ProcessRole.For(new WorkerOptions { Processes = 2 }).Link);
        Assert.Equal("billing", ProcessRole.For(new WorkerOptions()).WorkerName("billing")); // unchanged outside a supervisor
    }
}
