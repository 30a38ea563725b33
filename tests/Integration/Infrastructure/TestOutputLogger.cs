using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>Sends a host's log lines to the test's output, so a failing test shows what the worker said.</summary>
public sealed class TestOutputLoggerProvider(ITestOutputHelper output, string hostName) : ILoggerProvider
{
    private volatile bool _closed;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void Dispose() => _closed = true;

    /// <summary>Writes a line unless the test has finished (xunit refuses output after that).</summary>
    public void Write(string line)
    {
        if (_closed)
        {
            return;
        }

        try
        {
            output.WriteLine($"[{DateTime.Now:HH:mm:ss.fff} {hostName}] {line}");
        }
        catch (InvalidOperationException)
        {
            _closed = true;
        }
    }

    private sealed class Logger(TestOutputLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel) || (category is "ConsoleLifetime" or "Lifetime" or "Internal.Host" or "Host"))
            {
                return;
            }

            provider.Write($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}");
        }
    }
}
