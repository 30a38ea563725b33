using Celeriac.Brokers.InMemory;
using Celeriac.Redis;
using Microsoft.Extensions.Logging;

namespace Celeriac.Brokers;

/// <summary>
/// Creates the configured broker once, on first use, and shares it between the client and the worker of a process. A
/// first connection that fails is not kept: the next use tries again (a client started before its Redis recovers).
/// </summary>
internal sealed class BrokerProvider : IAsyncDisposable
{
    private readonly CeleriacOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly Lock _gate = new();
    private Task<ITaskBroker>? _broker;

    public BrokerProvider(CeleriacOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        _options = options;
        _time = time;
        _loggers = loggers;
    }

    /// <summary>Uses an existing broker (tests).</summary>
    public BrokerProvider(ITaskBroker broker, CeleriacOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        _options = options;
        _time = time;
        _loggers = loggers;
        _broker = Task.FromResult(broker);
    }

    public Task<ITaskBroker> GetAsync(CancellationToken cancellationToken)
    {
        Task<ITaskBroker>? broker = Volatile.Read(ref _broker);
        if (broker is { IsCompletedSuccessfully: true })
        {
            return broker;
        }

        lock (_gate)
        {
            broker = _broker;
            if (broker is null || broker.IsFaulted || broker.IsCanceled)
            {
                _broker = broker = CreateAsync();
            }
        }

        return broker.WaitAsync(cancellationToken);
    }

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
        Task<ITaskBroker>? broker = Volatile.Read(ref _broker);
        if (broker is { IsCompletedSuccessfully: true })
        {
            await broker.Result.DisposeAsync().ConfigureAwait(false);
        }
    }
}
