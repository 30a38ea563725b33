namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>Base of tests that start real worker processes: whatever a test started is killed and closed, also when it fails.</summary>
public abstract class ProcessTestBase : IAsyncLifetime
{
    /// <summary>The worker processes this test started.</summary>
    protected List<WorkerProcess> Workers { get; } = [];

    /// <summary>The client this test opened, if any.</summary>
    protected CeleriacClient? Client { get; set; }

    /// <inheritdoc/>
    public Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        foreach (WorkerProcess worker in Workers)
        {
            worker.Dispose();
        }

        if (Client is not null)
        {
            await Client.DisposeAsync();
        }
    }
}
