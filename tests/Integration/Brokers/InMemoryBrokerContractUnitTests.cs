using Celeriac.Brokers;
using Celeriac.Brokers.InMemory;
using Celeriac.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.IntegrationTests.Brokers;

/// <summary>
/// The broker contract against the in-process <see cref="InMemoryBroker"/> (no Redis needed), on a fake clock: leases
/// expire, messages fall due, waits end and results and revocations expire when the test moves the clock, not after
/// wall time.
/// </summary>
public sealed class InMemoryBrokerContractUnitTests(ITestOutputHelper output) : BrokerContract(output)
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    private protected override TimeProvider Time => _clock;

    private protected override Task<ITaskBroker> CreateBrokerAsync() => Task.FromResult<ITaskBroker>(new InMemoryBroker(_clock));

    private protected override Task PassAsync(TimeSpan span)
    {
        _clock.Advance(span);
        return Task.CompletedTask;
    }

    private protected override async Task<T> PassingAsync<T>(Task<T> operation, TimeSpan span, string what)
    {
        // Small steps, each given a moment to let a woken wait finish, so that the operation ends about when it is due.
        for (TimeSpan passed = TimeSpan.Zero; !operation.IsCompleted && passed < span; passed += Step)
        {
            _clock.Advance(Step);
            await Task.Yield();
        }

        return await Wait.WithinAsync(operation, TimeSpan.FromSeconds(30), what);
    }
}
