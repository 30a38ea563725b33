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

/// <summary>
/// Tests that kill or start Redis or worker processes of their own (the fault suite, kill and shutdown tests, Sentinel
/// failover): run one at a time, after the parallel tests, so that CPU-spinning and dying processes never share the
/// 2-core machine with each other's short leases and timing.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DeploymentFaultsCollection
{
    public const string Name = "Deployment faults";
}
