using Celeriac.Brokers;
using Celeriac.Brokers.InMemory;

namespace Celeriac.IntegrationTests.Brokers;

/// <summary>The broker contract against the in-process <see cref="InMemoryBroker"/> (no Redis needed).</summary>
public sealed class InMemoryBrokerContractUnitTests(ITestOutputHelper output) : BrokerContract(output)
{
    private protected override Task<ITaskBroker> CreateBrokerAsync() => Task.FromResult<ITaskBroker>(new InMemoryBroker(TimeProvider.System));
}
