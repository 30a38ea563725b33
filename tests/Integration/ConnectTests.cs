using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests;

/// <summary>
/// The first connection to Redis: a wrong address or an unknown host fails at connect (client) or at start (worker),
/// bounded and with a short message; once connected, an outage is ridden out and a failed first connect is retried.
/// </summary>
public sealed class ConnectTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task ConnectAsync_to_a_port_nobody_listens_on_fails_naming_the_address()
    {
        string address = "127.0.0.1:" + FreePort();
        var clock = Stopwatch.StartNew();
        InvalidOperationException failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = address }).WaitAsync(Bound));
        output.WriteLine($"after {clock.ElapsedMilliseconds} ms ({failure.Message.Length} chars): {failure.Message}");
        Assert.Contains(address, failure.Message, StringComparison.Ordinal);
        Assert.Contains("No connection was made", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("may or may not", failure.Message, StringComparison.Ordinal);
        Assert.True(failure.Message.Length < 500, $"the message is {failure.Message.Length} characters long");
    }

    [Fact]
    public async Task ConnectAsync_to_an_unknown_host_fails_saying_the_name_does_not_resolve()
    {
        var clock = Stopwatch.StartNew();
        InvalidOperationException failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = "celeriac-no-such-host.invalid:6379" }).WaitAsync(Bound));
        output.WriteLine($"after {clock.ElapsedMilliseconds} ms: {failure.Message}");
        Assert.Contains("celeriac-no-such-host.invalid:6379", failure.Message, StringComparison.Ordinal);
        Assert.Contains("does not resolve", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_to_a_server_that_does_not_answer_fails_within_the_connect_timeout()
    {
        using RedisServer server = await RedisServer.StartAsync(output, aof: false);
        await server.SignalAsync("STOP"); // accepts TCP connections (the kernel does) but never answers
        try
        {
            var clock = Stopwatch.StartNew();
            InvalidOperationException failure = await Assert.ThrowsAsync<InvalidOperationException>(
                () => CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = server.Configuration + ",connectTimeout=1000" }).WaitAsync(Bound));
            output.WriteLine($"after {clock.ElapsedMilliseconds} ms: {failure.Message}");
            Assert.Contains(server.Configuration, failure.Message, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"the connect failed only after {clock.ElapsedMilliseconds} ms (connect timeout 1000 ms)");
        }
        finally
        {
            await server.SignalAsync("CONT");
        }
    }

    [Fact]
    public async Task A_worker_whose_Redis_cannot_be_reached_fails_to_start_with_the_connection_error()
    {
        string address = "127.0.0.1:" + FreePort();
        var clock = Stopwatch.StartNew();
        InvalidOperationException failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => TestHost.StartAsync(output, "unreachable", address, RedisFixture.NewPrefix(), new MemoryLedger()));
        output.WriteLine($"after {clock.ElapsedMilliseconds} ms: {failure.Message}");
        Assert.Contains(address, failure.Message, StringComparison.Ordinal);
        Assert.Contains("No connection was made", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_connected_rides_out_a_Redis_restart()
    {
        using RedisServer server = await RedisServer.StartAsync(output, aof: false);
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = server.Configuration, KeyPrefix = RedisFixture.NewPrefix() });
        await Calc.AddTask.DelayAsync(client, 1, 1);
        await server.RestartAsync(TimeSpan.FromMilliseconds(500));

        var clock = Stopwatch.StartNew();
        var errors = new List<string>();
        while (true)
        {
            try
            {
                await Calc.AddTask.DelayAsync(client, 2, 2);
                break;
            }
            catch (BrokerUnavailableException ex) when (clock.Elapsed < Bound)
            {
                errors.Add(ex.GetType().Name);
                await Task.Delay(100);
            }
        }

        output.WriteLine($"sent again {clock.ElapsedMilliseconds} ms after the restart; {errors.Count} sends refused meanwhile");
        Assert.Equal(1, await client.GetQueueLengthAsync("default"));
    }

    [Fact]
    public async Task A_send_during_an_outage_after_connecting_fails_with_a_short_message_that_says_it_may_have_been_stored()
    {
        using RedisServer server = await RedisServer.StartAsync(output, aof: false);
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = server.Configuration + ",asyncTimeout=1000", KeyPrefix = RedisFixture.NewPrefix() });
        await server.SignalAsync("STOP");
        BrokerUnavailableException failure;
        try
        {
            failure = await Assert.ThrowsAsync<BrokerUnavailableException>(async () => await Calc.AddTask.DelayAsync(client, 1, 2));
        }
        finally
        {
            await server.SignalAsync("CONT");
        }

        output.WriteLine($"{failure.Message.Length} chars: {failure.Message}\n(inner: {failure.InnerException!.Message.Length} chars)");
        Assert.Contains("may or may not have been stored", failure.Message, StringComparison.Ordinal);
        Assert.Contains(failure.TaskIds[0], failure.Message, StringComparison.Ordinal);
        Assert.True(failure.Message.Length < 450, $"the message is {failure.Message.Length} characters long");
    }

    [Fact]
    public async Task A_client_from_DI_whose_first_connect_failed_connects_on_a_later_send()
    {
        using RedisServer server = await RedisServer.StartAsync(output, aof: false);
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddCeleriac(o =>
        {
            o.Redis = server.Configuration + ",connectTimeout=1000";
            o.KeyPrefix = RedisFixture.NewPrefix();
        });
        using IHost host = builder.Build();
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();

        await server.SignalAsync("STOP");
        InvalidOperationException failure;
        try
        {
            failure = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Calc.AddTask.DelayAsync(client, 1, 2));
        }
        finally
        {
            await server.SignalAsync("CONT");
        }

        TaskHandle<int> sent = await Calc.AddTask.DelayAsync(client, 3, 4);
        output.WriteLine($"first send: {failure.Message}\nsecond send: task {sent.Id}");
        Assert.Contains("No connection was made", failure.Message, StringComparison.Ordinal);
        Assert.Equal(1, await ((CeleriacClient)client).GetQueueLengthAsync("default"));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
