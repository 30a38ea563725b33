using System.Collections.Concurrent;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Observability;

/// <summary>Every log line written during a run — the task's own and the worker's — carries the task's id and name as a structured scope.</summary>
public sealed class TaskLogScopeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Lines_logged_during_a_run_carry_the_task_id_and_name_as_a_structured_scope()
    {
        var sink = new ScopeRecorder();
        string sayId, failId;
        using (IHost host = await StartAsync(sink, scopes: true, categoryOff: false))
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            TaskHandle<int> say = await Chatter.SayTask.DelayAsync(client, "hello");
            TaskHandle<int> fail = await Calc.FailTask.DelayAsync(client, "boom");
            sayId = say.Id;
            failId = fail.Id;
            Assert.Equal(5, await say.GetAsync(Timeout));
            Assert.True((await client.WaitAsync(fail.Id, Timeout, CancellationToken.None)).IsReady);
            await host.StopAsync();
        }

        foreach (Line line in sink.Lines)
        {
            output.WriteLine($"{line.Category}: {line.Message} [{string.Join("; ", line.Scopes.Select(s => s.ToString()))}]");
        }

        // The task's own line, through its own ILogger<Chatter>.
        Line said = sink.Lines.Single(l => l.Message == "chatter says hello");
        IReadOnlyList<KeyValuePair<string, object?>> scope = Assert.Single(said.Scopes.OfType<IReadOnlyList<KeyValuePair<string, object?>>>(), s => s.Any(kv => kv.Key == "TaskId"));
        Assert.Equal(sayId, scope.Single(kv => kv.Key == "TaskId").Value);
        Assert.Equal(Chatter.SayTask.Name, scope.Single(kv => kv.Key == "TaskName").Value);

        // The worker's line about the failed run.
        Line failed = sink.Lines.Single(l => l.Category.EndsWith("CeleriacWorker", StringComparison.Ordinal) && l.Message.Contains(failId, StringComparison.Ordinal) && l.Level == LogLevel.Warning);
        Assert.Contains(failed.Scopes.OfType<IReadOnlyList<KeyValuePair<string, object?>>>(), s => s.Any(kv => kv.Key == "TaskId" && Equals(kv.Value, failId)));

        // Lines outside any run carry no task scope.
        Line started = sink.Lines.First(l => l.Message.Contains("started on the", StringComparison.Ordinal));
        Assert.DoesNotContain(started.Scopes.OfType<IReadOnlyList<KeyValuePair<string, object?>>>(), s => s.Any(kv => kv.Key == "TaskId"));
    }

    [Theory]
    [InlineData(false, false)] // the default: no run scopes (they cost every run, logged or not)
    [InlineData(true, true)] // on, but the Celeriac.Tasks category set to None
    public async Task No_scope_is_opened_by_default_or_with_the_Celeriac_Tasks_category_set_to_None(bool scopes, bool categoryOff)
    {
        var sink = new ScopeRecorder();
        using (IHost host = await StartAsync(sink, scopes, categoryOff))
        {
            ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
            Assert.Equal(3, await (await Chatter.SayTask.DelayAsync(client, "off")).GetAsync(Timeout));
            await host.StopAsync();
        }

        Line said = sink.Lines.Single(l => l.Message == "chatter says off");
        Assert.Empty(said.Scopes);
    }

    private async Task<IHost> StartAsync(ScopeRecorder sink, bool scopes, bool categoryOff)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(sink);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        if (categoryOff)
        {
            builder.Logging.AddFilter("Celeriac.Tasks", LogLevel.None);
        }

        builder.Services.AddSingleton<ILedger>(new MemoryLedger());
        builder.Services.AddCeleriac(o =>
        {
            o.Redis = RedisFixture.Configuration;
            o.KeyPrefix = RedisFixture.NewPrefix();
        }).AddWorker(w =>
        {
            w.Queues = [.. TestHost.Queues];
            w.FetchWait = TimeSpan.FromMilliseconds(200);
            w.TaskLogScopes = scopes;
        });
        IHost host = builder.Build();
        await host.StartAsync();
        output.WriteLine($"worker {host.Services.GetRequiredService<WorkerStatus>().WorkerName}");
        return host;
    }

    private sealed record Line(string Category, LogLevel Level, string Message, object[] Scopes);

    /// <summary>A logging provider that records each line with the scopes open when it was written (the host's external scope provider).</summary>
    private sealed class ScopeRecorder : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider? _scopes;

        public ConcurrentQueue<Line> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Recorder(ScopeRecorder owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes?.Push(state);

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var scopes = new List<object>();
                owner._scopes?.ForEachScope((scope, list) => list.Add(scope!), scopes);
                owner.Lines.Enqueue(new Line(category, logLevel, formatter(state, exception), [.. scopes]));
            }
        }
    }
}
