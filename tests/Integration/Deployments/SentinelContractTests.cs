using Celeriac.Brokers;
using Celeriac.IntegrationTests.Brokers;
using Celeriac.IntegrationTests.EndToEnd;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Microsoft.Extensions.Logging.Abstractions;

namespace Celeriac.IntegrationTests.Deployments;

/// <summary>The broker contract through Sentinel: the broker is given the sentinels and the service name, never the master's address.</summary>
[Collection(SentinelCollection.Name)]
public sealed class SentinelBrokerContractTests(SentinelDeployment deployment, ITestOutputHelper output) : BrokerContract(output)
{
    private protected override async Task<ITaskBroker> CreateBrokerAsync()
    {
        var options = new CeleriacOptions { Redis = deployment.Set.Configuration, KeyPrefix = RedisFixture.NewPrefix() };
        Output.WriteLine($"redis {options.Redis} (master on port {deployment.Set.MasterPort}), key prefix {options.KeyPrefix}");
        return await RedisBroker.ConnectAsync(options, NullLogger.Instance, TimeProvider.System, default);
    }
}

/// <summary>The end-to-end contract (client and worker in one host) through Sentinel.</summary>
[Collection(SentinelCollection.Name)]
public sealed class SentinelEndToEndTests(SentinelDeployment deployment, ITestOutputHelper output) : EndToEndContract(output)
{
    protected override string? Redis => deployment.Set.Configuration;
}
