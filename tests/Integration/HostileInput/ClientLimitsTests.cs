using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;

namespace Celeriac.IntegrationTests.HostileInput;

/// <summary>A client refuses to send what a worker would refuse: more argument values than MaxMessageElements, more headers than a worker reads.</summary>
public sealed class ClientLimitsTests
{
    [Fact]
    public async Task A_client_refuses_arguments_over_the_element_limit_and_too_many_headers()
    {
        _ = await RedisFixture.GetAsync();
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = RedisFixture.NewPrefix(), MaxMessageElements = 100 });
        var small = new Basket("b", Tier.Gold, [[1, 2, 3]], new Parcel("p", 1), null);
        var large = small with { Rows = [.. Enumerable.Range(0, 100).Select(_ => new List<int>())] };

        Assert.NotNull(await Hostile.WeighTask.DelayAsync(client, small)); // under the limit: sent
        ArgumentException elements = await Assert.ThrowsAsync<ArgumentException>(async () => await Hostile.WeighTask.DelayAsync(client, large));
        Assert.Contains("MaxMessageElements", elements.Message, StringComparison.Ordinal);

        var headers = Enumerable.Range(0, 1025).ToDictionary(i => "h" + i, _ => "v");
        ArgumentException tooMany = await Assert.ThrowsAsync<ArgumentException>(async () => await Calc.AddTask.ApplyAsync(client, 1, 2, new TaskOptions { Headers = headers }));
        Assert.Contains("1025 headers", tooMany.Message, StringComparison.Ordinal);
    }
}
