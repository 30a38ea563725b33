using Celeriac.IntegrationTests.Infrastructure;

namespace Celeriac.IntegrationTests.Deployments;

/// <summary>One Sentinel deployment (<see cref="RedisSentinelSet"/>) shared by the contract suites of the <c>Sentinel</c> collection.</summary>
public sealed class SentinelDeployment : IAsyncLifetime
{
    private RedisSentinelSet? _set;

    public RedisSentinelSet Set => _set ?? throw new InvalidOperationException("The Sentinel deployment did not start.");

    public async Task InitializeAsync() => _set = await RedisSentinelSet.StartAsync(output: null);

    public Task DisposeAsync()
    {
        _set?.Dispose();
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class SentinelCollection : ICollectionFixture<SentinelDeployment>
{
    public const string Name = "Sentinel";
}

/// <summary>Tests that kill Redis or worker processes of their own: run one at a time, never beside each other.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DeploymentFaultsCollection
{
    public const string Name = "Deployment faults";
}
