using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests;

/// <summary>An ordinary stop: a fetch blocked in its wait is cancelled, then the broker closes. Nothing alarming is logged.</summary>
public sealed class BrokerStopTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_waiting_fetch_cancelled_by_a_stop_and_the_broker_closed_log_no_warning(int queueCount)
    {
        _ = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        string[] queues = [.. Enumerable.Range(0, queueCount).Select(i => "idle" + i)];
        var logger = new RecordingLogger();
        for (int stop = 0; stop < 5; stop++)
        {
            RedisBroker broker = await RedisBroker.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, logger, TimeProvider.System, default);
            using var cancel = new CancellationTokenSource();
            var into = new List<Delivery>();
            Task<int> fetch = broker.FetchAsync(new FetchRequest(queues, 10, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(2), "stopping-worker"), into, cancel.Token);
            await Task.Delay(150 + (stop * 100)); // blocked in its wait
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);
            await broker.DisposeAsync(); // the host disposes the broker right after the worker stopped
        }

        await Task.Delay(500); // what the closed connections fail late is logged by now
        string[] alarming = [.. logger.Lines.Where(l => l.Level >= LogLevel.Warning).Select(l => $"{l.Level}: {l.Message} {l.Exception?.GetType().Name}")];
        output.WriteLine($"5 stops on {queueCount} queue(s): {logger.Lines.Count} log lines, {alarming.Length} warnings or errors{(alarming.Length > 0 ? ": " + string.Join(" | ", alarming) : "")}");
        Assert.Empty(alarming);
    }

    private sealed class RecordingLogger : ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Lines.Enqueue((logLevel, formatter(state, exception), exception));
    }
}
