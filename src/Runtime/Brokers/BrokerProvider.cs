using Celeriac.Brokers.InMemory;
using Celeriac.Redis;
using Microsoft.Extensions.Logging;

namespace Celeriac.Brokers;

/// <summary>Creates the configured broker once, on first use, and shares it between the client and the worker of a process.</summary>
internal sealed class BrokerProvider : IAsyncDisposable
{
    private readonly CeleriacOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly Lazy<Task<ITaskBroker>> _broker;

    public BrokerProvider(CeleriacOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        _options = options;
        _time = time;
        _loggers = loggers;
        _broker = new Lazy<Task<ITaskBroker>>(CreateAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Uses an existing broker (tests).</summary>
    public BrokerProvider(ITaskBroker broker, CeleriacOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        _options = options;
        _time = time;
        _loggers = loggers;
        _broker = new Lazy<Task<ITaskBroker>>(Task.FromResult(broker));
    }

    public bool IsRedis => _options.Redis is { Length: > 0 };

    public Task<ITaskBroker> GetAsync(CancellationToken cancellationToken) => _broker.Value.WaitAsync(cancellationToken);

    private async Task<ITaskBroker> CreateAsync()
    {
        if (!_options.UsesRedis)
        {
            return new InMemoryBroker(_time);
        }

        return await RedisBroker.ConnectAsync(_options, _loggers.CreateLogger<RedisBroker>(), _time, CancellationToken.None).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_broker.IsValueCreated && _broker.Value.IsCompletedSuccessfully)
        {
            await _broker.Value.Result.DisposeAsync().ConfigureAwait(false);
        }
    }
}
