using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Celeriac.TestTasks;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.FaultSuite;

/// <summary>
/// Result reads during a Redis outage: a read gets the broker-neutral <see cref="BrokerUnavailableException"/> (never a
/// client library's exception), and a wait rides the outage out and returns the result once Redis is back.
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or starts processes: never beside other such tests
public sealed class ResultReadOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task A_read_while_Redis_is_down_throws_BrokerUnavailableException_and_a_wait_rides_out_a_restart()
    {
        using RedisServer server = await RedisServer.StartAsync(output, aof: true);
        string prefix = RedisFixture.NewPrefix();
        _hosts.Add(await TestHost.StartAsync(output, "worker", server.Configuration, prefix, new MemoryLedger()));
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = server.Configuration + ",connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000", KeyPrefix = prefix });

        TaskHandle<int> done = await Calc.AddTask.DelayAsync(client, 2, 3);
        Assert.Equal(5, await done.GetAsync(TimeSpan.FromSeconds(20)));

        // Down: a read says so in broker-neutral terms, naming the task.
        server.Stop();
        BrokerUnavailableException down = await Assert.ThrowsAsync<BrokerUnavailableException>(async () => await done.GetResultAsync());
        output.WriteLine($"read while down: {down.Message}");
        Assert.Equal([done.Id], down.TaskIds);
        Assert.Contains(done.Id, down.Message, StringComparison.Ordinal);
        await server.StartAgainAsync();

        // A wait that spans a restart: the task runs 3 s; Redis is SIGKILLed and restarted (AOF) meanwhile. The send is
        // repeated with the same id until the client has reconnected, as BrokerUnavailableException advises.
        string id = "held-" + Guid.NewGuid().ToString("N");
        TaskHandle<int>? sent = null;
        await Wait.UntilAsync(
            async () =>
            {
                try
                {
                    sent = await Calc.HoldTask.ApplyAsync(client, 3000, new TaskOptions { TaskId = id });
                    return true;
                }
                catch (BrokerUnavailableException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(20), "the client to reconnect", pollMs: 100);
        TaskHandle<int> held = sent!;
        Task<int> waiting = held.GetAsync(TimeSpan.FromSeconds(60));
        await using (ConnectionMultiplexer watch = await ConnectionMultiplexer.ConnectAsync(server.Configuration))
        {
            await Wait.SubscribedAsync(watch.GetDatabase(), new RedisKeys(prefix).DoneChannelName(id), TimeSpan.FromSeconds(20), "the wait to subscribe before Redis is killed");
        }

        await server.RestartAsync(TimeSpan.FromSeconds(1));
        int value = await waiting;
        output.WriteLine($"the wait across the restart returned {value}");
        Assert.Equal(3000, value);
    }
}
