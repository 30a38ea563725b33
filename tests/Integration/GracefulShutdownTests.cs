using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests;

/// <summary>
/// SIGTERM to a real worker process in the conditions only a process has: Redis gone, or an idle fetch wait. What a stop
/// does with running, overdue and prefetched tasks is <c>EndToEndContract</c>'s (every broker) and F5's (two processes).
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or starts processes: never beside other such tests
public sealed class GracefulShutdownTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_worker_stopped_while_Redis_is_down_exits_0_and_logs_no_failure()
    {
        var server = await RedisServer.StartAsync(output, aof: false);
        try
        {
            string prefix = RedisFixture.NewPrefix();
            WorkerProcess worker = await WorkerProcess.StartAsync(output, "worker", server.Configuration, prefix, "default", concurrency: 2, visibilityMs: 2000);
            Workers.Add(worker);
            await Task.Delay(1000); // running: fetching, subscribed, renewing
            server.Dispose(); // SIGKILL: Redis is gone for the rest of the test
            await Wait.UntilAsync(() => Task.FromResult(worker.Lines.Any(l => l.Contains("Redis connection failed", StringComparison.Ordinal))), Bound, "the worker to see the outage");
            await Task.Delay(1000); // its calls now wait for a connection (up to the 5 s timeout) or fail: stop it meanwhile

            await worker.SignalAsync("TERM");
            await worker.WaitForExitAsync(Bound);
            string[] alarming = [.. worker.Lines.Where(l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal))];
            output.WriteLine($"exit code {worker.ExitCode}; fail/crit lines: {alarming.Length}");
            Assert.Empty(alarming);
            Assert.Equal(0, worker.ExitCode);
            Assert.Contains(worker.Lines, l => l.StartsWith("STOPPED", StringComparison.Ordinal));
        }
        finally
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task An_idle_worker_stopped_with_SIGTERM_logs_no_warning_or_error()
    {
        const int Stops = 6;
        string prefix = RedisFixture.NewPrefix();
        _ = await RedisFixture.GetAsync();
        var alarming = new List<string>();
        for (int i = 0; i < Stops; i++)
        {
            using WorkerProcess worker = await WorkerProcess.StartAsync(output, $"idle-{i}", RedisFixture.Configuration, prefix, i % 2 == 0 ? "default" : "default,slow", concurrency: 2, visibilityMs: 2000);
            await Task.Delay(300 + (i * 150)); // blocked in its fetch wait (500 ms) at various points when the signal comes
            await worker.SignalAsync("TERM");
            await worker.WaitForExitAsync(Bound);
            alarming.AddRange(worker.Lines.Where(l => l.StartsWith("warn:", StringComparison.Ordinal) || l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal)));
        }

        output.WriteLine($"{Stops} stops of an idle worker; warning or error lines: {alarming.Count}");
        Assert.Empty(alarming);
    }

    [Fact]
    public async Task A_host_that_gives_up_on_the_stop_and_disposes_the_worker_midway_lets_the_stop_run_to_its_deadline_and_keeps_the_process_alive()
    {
        // Seen in a full run: a host disposed the worker while its stop still waited for a running task. The stop then
        // failed on a disposed source at the deadline, and the lease heartbeat's thread, left running, threw on its own
        // disposed stop signal at its next tick: an unhandled exception on a thread of ours, so the test host process died.
        string prefix = RedisFixture.NewPrefix(), run = "disposed-" + Guid.NewGuid().ToString("N")[..8];
        var ledger = new MemoryLedger();
        IHost host = await TestHost.StartAsync(output, "disposed", RedisFixture.Configuration, prefix, ledger,
            o => o.VisibilityTimeout = TimeSpan.FromSeconds(1), // a heartbeat every 333 ms
            w =>
            {
                w.Queues = ["slow"];
                w.Concurrency = 1;
                w.ShutdownTimeout = TimeSpan.FromSeconds(1);
            });
        try
        {
            CeleriacWorker worker = host.Services.GetServices<IHostedService>().OfType<CeleriacWorker>().Single();
            var client = host.Services.GetRequiredService<CeleriacClient>();
            await Overrun.GatedTask.DelayAsync(client, run, 1); // ignores its token: the stop waits for it until the deadline
            await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Contains("start:1"), Bound, "the task to run");

            using (var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
            {
                await Record.ExceptionAsync(() => host.StopAsync(giveUp.Token)); // the host's own shutdown timeout, reached
            }

            Assert.False(worker.ExecuteTask!.IsCompleted, "the worker's stop should still be waiting for the running task");
            host.Dispose();

            // The stop goes on: at the deadline the run's token is cancelled, then the worker's run ends (the heartbeat
            // thread is waited for before it does).
            await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Contains("cancelled:1"), Bound, "the stop to reach its deadline and cancel the run");
            await Wait.WithinAsync(worker.ExecuteTask.ContinueWith(_ => 0, TaskScheduler.Default), Bound, "the worker's run to end");
            output.WriteLine($"OBSERVED: ledger [{string.Join(", ", await ledger.ReadAsync(run))}]; the worker's run ended {worker.ExecuteTask.Status}{(worker.ExecuteTask.Exception is { } e ? " (" + e.InnerException?.GetType().Name + ": " + e.InnerException?.Message + ")" : "")}");
        }
        finally
        {
            Overrun.Open(run);
            host.Dispose();
        }
    }
}
