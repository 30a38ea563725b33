using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests;

/// <summary>
/// A retry filter (<see cref="TaskPolicy.ShouldRetry"/>) that throws cannot vouch for a retry: the task fails at once,
/// with its own error, and the worker keeps running. The generator only emits type tests, which cannot throw; a policy
/// written by hand can. In-process worker with a catalog of its own.
/// </summary>
public sealed class RetryFilterUnitTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_retry_filter_that_throws_counts_as_do_not_retry()
    {
        int runs = 0, filterCalls = 0;
        var catalog = new TaskCatalog();
        catalog.Add(new TaskRegistration(
            Calc.AddTask.Name,
            TaskAttribute.DefaultQueue,
            (_, _, _) =>
            {
                Interlocked.Increment(ref runs);
                throw new InvalidOperationException("the task's own failure");
            },
            policy: new TaskPolicy
            {
                MaxRetries = 5,
                RetryBackoff = TimeSpan.FromMilliseconds(1),
                ShouldRetry = _ =>
                {
                    Interlocked.Increment(ref filterCalls);
                    throw new NotSupportedException("a broken filter");
                },
            }));

        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac().UseCatalog(catalog).AddWorker(w => w.FetchWait = TimeSpan.FromMilliseconds(100));
        using IHost host = builder.Build();
        await host.StartAsync();
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<int> handle = await Calc.AddTask.DelayAsync(client, 1, 2);
            TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync(TimeSpan.FromSeconds(20)));
            // FAILURE is final: a retry would have recorded RETRY instead, and the wait would have ended only after the
            // last of five more runs. So the counts below are complete once the wait has ended; no time needs to pass.
            TaskResult record = await handle.GetResultAsync();
            output.WriteLine($"{failure.RemoteType}: {failure.RemoteMessage}; runs {runs}, filter calls {filterCalls}, retries {record.Retries}");
            Assert.Equal(typeof(InvalidOperationException).FullName, failure.RemoteType);
            Assert.Equal(1, runs);
            Assert.Equal(1, filterCalls);
            Assert.Equal(0, record.Retries);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
