using System.Collections.Concurrent;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Middleware;

/// <summary>
/// Middleware (docs/observability.md, "Middleware") against a real redis-server and on the in-process broker: the
/// order of the hooks around a send and a run that retries then succeeds, headers added at send seen by the task, and
/// what a throwing hook does.
/// </summary>
public sealed class MiddlewareTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static TheoryData<bool> Brokers => new() { true, false };

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task Hooks_run_in_order_around_a_send_and_a_run_that_retries_then_succeeds(bool redis)
    {
        var calls = new ConcurrentQueue<string>();
        var outer = new Recording("A", calls);
        var inner = new Recording("B", calls);
        IHost host = await StartAsync(redis, b => b.AddMiddleware(outer).AddMiddleware(inner));
        string id;
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<int> handle = await Faults.FlakyTask.DelayAsync(client, "mw-" + Guid.NewGuid().ToString("N"), 1);
            id = handle.Id;
            Assert.Equal(1, await handle.GetAsync(Timeout));
            await Wait.UntilAsync(() => Task.FromResult(calls.Count(c => c.EndsWith("OnSucceeded " + id, StringComparison.Ordinal)) == 2), Timeout, "both middleware hear the success");
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }

        string[] seen = [.. calls.Where(c => c.EndsWith(" " + id, StringComparison.Ordinal)).Select(c => c[..^(id.Length + 1)])];
        output.WriteLine(string.Join(Environment.NewLine, seen));

        // The send's hooks and the runs' hooks each in order (the worker may start the run before the sender's OnSent).
        Assert.Equal(["A OnSending", "B OnSending", "B OnSent", "A OnSent"], seen.Where(c => c.Contains("OnSen", StringComparison.Ordinal)));
        Assert.Equal(
            [
                "A OnRunning", "B OnRunning", "B OnRan InvalidOperationException", "A OnRan InvalidOperationException", "B OnRetried", "A OnRetried",
                "A OnRunning", "B OnRunning", "B OnRan ok", "A OnRan ok", "B OnSucceeded", "A OnSucceeded",
            ],
            seen.Where(c => !c.Contains("OnSen", StringComparison.Ordinal)));
        Assert.Equal(["A OnWorkerReady", "B OnWorkerReady", "B OnWorkerStopping", "A OnWorkerStopping"], calls.Where(c => c.Contains("Worker", StringComparison.Ordinal)).Select(c => c[..c.LastIndexOf(' ')]));
    }

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task A_task_with_a_hard_time_limit_runs_between_the_same_hooks(bool redis)
    {
        var calls = new ConcurrentQueue<string>();
        IHost host = await StartAsync(redis, b => b.AddMiddleware(new Recording("A", calls)));
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<int> limited = await Calc.LimitedTask.DelayAsync(client, 7);
            Assert.Equal(7, await limited.GetAsync(Timeout));
            await Wait.UntilAsync(() => Task.FromResult(calls.Contains("A OnSucceeded " + limited.Id)), Timeout, "the success reaches the middleware");
            Assert.Equal(["A OnRunning", "A OnRan ok", "A OnSucceeded"], calls.Where(c => c.EndsWith(" " + limited.Id, StringComparison.Ordinal) && !c.Contains("OnSen", StringComparison.Ordinal)).Select(c => c[..^(limited.Id.Length + 1)]));
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task A_header_added_at_send_reaches_the_tasks_context_and_its_retries(bool redis)
    {
        var calls = new ConcurrentQueue<string>();
        IHost host = await StartAsync(redis, b => b.AddMiddleware(new Stamping()).AddMiddleware(new Recording("R", calls)));
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            Assert.Equal("stamped", await (await Hooks.HeaderTask.DelayAsync(client, Stamping.Header)).GetAsync(Timeout));

            // A header of the caller's own (TaskOptions.Headers) stays; the middleware's joins it.
            TaskHandle<string> own = await Hooks.HeaderTask.ApplyAsync(client, Stamping.Header + "-not", new TaskOptions { Headers = new Dictionary<string, string> { ["mine"] = "1" } });
            Assert.Equal("(none)", await own.GetAsync(Timeout));
            Assert.Equal("1", await (await Hooks.HeaderTask.ApplyAsync(client, "mine", new TaskOptions { Headers = new Dictionary<string, string> { ["mine"] = "1" } })).GetAsync(Timeout));

            // A retried task keeps the header on every run.
            TaskHandle<int> flaky = await Faults.FlakyTask.DelayAsync(client, "mw-" + Guid.NewGuid().ToString("N"), 1);
            Assert.Equal(1, await flaky.GetAsync(Timeout));
            Assert.Equal(2, calls.Count(c => c == "R OnRunning header=stamped " + flaky.Id));
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task A_hook_that_throws_after_the_send_changes_no_outcome_and_stops_no_worker(bool redis)
    {
        var calls = new ConcurrentQueue<string>();
        IHost host = await StartAsync(redis, b => b.AddMiddleware(new Recording("A", calls)).AddMiddleware(new Throwing(refuseSends: false)));
        try
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(i + 1, await (await Calc.AddTask.DelayAsync(client, i, 1)).GetAsync(Timeout));
            }

            TaskHandle<int> flaky = await Faults.FlakyTask.DelayAsync(client, "mw-" + Guid.NewGuid().ToString("N"), 1);
            Assert.Equal(1, await flaky.GetAsync(Timeout));
            await Assert.ThrowsAsync<TaskFailedException>(async () => await (await Calc.FailTask.DelayAsync(client, "boom")).GetAsync(Timeout));

            // The middleware registered before the throwing one still heard every hook (the throwing one runs first in "after" hooks).
            Assert.Equal(2, calls.Count(c => c == "A OnSucceeded " + flaky.Id) + calls.Count(c => c == "A OnRetried " + flaky.Id));
            await Wait.UntilAsync(() => Task.FromResult(calls.Any(c => c.StartsWith("A OnFailed", StringComparison.Ordinal))), Timeout, "the failure reaches the middleware");
            Assert.True(host.Services.GetRequiredService<WorkerStatus>().IsReady);
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task A_sending_hook_that_throws_refuses_the_send_and_nothing_is_queued(bool redis)
    {
        string prefix = RedisFixture.NewPrefix();
        IHost host = await StartAsync(redis, b => b.AddMiddleware(new Throwing(refuseSends: true)), prefix, worker: false);
        try
        {
            CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
            InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Calc.AddTask.DelayAsync(client, 1, 2));
            Assert.Equal("refused by policy", refused.Message);
            Assert.Equal(0, await client.GetQueueLengthAsync("default"));
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    private async Task<IHost> StartAsync(bool redis, Action<CeleriacBuilder> middleware, string? prefix = null, bool worker = true)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(output, "mw"));
        builder.Services.AddSingleton<ILedger>(new MemoryLedger());
        CeleriacBuilder celeriac = builder.Services.AddCeleriac(o =>
        {
            o.Redis = redis ? RedisFixture.Configuration : null;
            o.KeyPrefix = prefix ?? RedisFixture.NewPrefix();
            o.VisibilityTimeout = TimeSpan.FromSeconds(5);
        });
        if (worker)
        {
            celeriac.AddWorker(w =>
            {
                w.Queues = [.. TestHost.Queues];
                w.Concurrency = 2;
                w.FetchWait = TimeSpan.FromMilliseconds(500);
                w.ShutdownTimeout = TimeSpan.FromSeconds(5);
                w.Name = "mw";
            });
        }

        middleware(celeriac);
        IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Timeout);
        if (worker)
        {
            await host.Services.GetRequiredService<WorkerStatus>().Ready.WaitAsync(Timeout);
        }

        return host;
    }

    /// <summary>Records every hook as "name hook subject".</summary>
    private sealed class Recording(string name, ConcurrentQueue<string> calls) : CeleriacMiddleware
    {
        public override void OnSending(SendingTask task) => calls.Enqueue($"{name} OnSending {task.TaskId}");

        public override void OnSent(SendingTask task, Exception? error) => calls.Enqueue($"{name} OnSent {task.TaskId}");

        public override void OnRunning(TaskContext context)
            => calls.Enqueue(context.Headers.TryGetValue(Stamping.Header, out string? stamp) ? $"{name} OnRunning header={stamp} {context.TaskId}" : $"{name} OnRunning {context.TaskId}");

        public override void OnRan(TaskContext context, Exception? error) => calls.Enqueue($"{name} OnRan {(error is null ? "ok" : error.GetType().Name)} {context.TaskId}");

        public override void OnSucceeded(TaskOutcome outcome) => calls.Enqueue($"{name} OnSucceeded {outcome.TaskId}");

        public override void OnFailed(TaskOutcome outcome) => calls.Enqueue($"{name} OnFailed {outcome.TaskId}");

        public override void OnRetried(TaskOutcome outcome) => calls.Enqueue($"{name} OnRetried {outcome.TaskId}");

        public override void OnRevoked(TaskOutcome outcome) => calls.Enqueue($"{name} OnRevoked {outcome.TaskId}");

        public override void OnDeadLettered(TaskOutcome outcome) => calls.Enqueue($"{name} OnDeadLettered {outcome.TaskId}");

        public override void OnWorkerReady(string worker) => calls.Enqueue($"{name} OnWorkerReady {worker}");

        public override void OnWorkerStopping(string worker) => calls.Enqueue($"{name} OnWorkerStopping {worker}");
    }

    /// <summary>Adds a header to every send.</summary>
    private sealed class Stamping : CeleriacMiddleware
    {
        public const string Header = "x-stamp";

        public override void OnSending(SendingTask task) => task.Headers[Header] = "stamped";
    }

    /// <summary>Throws in every hook (in <see cref="OnSending"/> only when asked to refuse sends).</summary>
    private sealed class Throwing(bool refuseSends) : CeleriacMiddleware
    {
        public override void OnSending(SendingTask task)
        {
            if (refuseSends)
            {
                throw new InvalidOperationException("refused by policy");
            }
        }

        public override void OnSent(SendingTask task, Exception? error) => throw new InvalidOperationException("hook");

        public override void OnRunning(TaskContext context) => throw new InvalidOperationException("hook");

        public override void OnRan(TaskContext context, Exception? error) => throw new InvalidOperationException("hook");

        public override void OnSucceeded(TaskOutcome outcome) => throw new InvalidOperationException("hook");

        public override void OnFailed(TaskOutcome outcome) => throw new InvalidOperationException("hook");

        public override void OnRetried(TaskOutcome outcome) => throw new InvalidOperationException("hook");

        public override void OnWorkerReady(string worker) => throw new InvalidOperationException("hook");

        public override void OnWorkerStopping(string worker) => throw new InvalidOperationException("hook");
    }
}
