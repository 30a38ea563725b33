using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.Deployments;

/// <summary>TLS only, client certificates required: the test CA and the client certificate go in through <see cref="CeleriacOptions.ConfigureRedis"/>.</summary>
public sealed class RedisTlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IHost> _hosts = [];
    private TlsRedisServer? _server;

    private TlsRedisServer Server => _server ?? throw new InvalidOperationException("The TLS server did not start.");

    public async Task InitializeAsync() => _server = await TlsRedisServer.StartAsync(output);

    public async Task DisposeAsync()
    {
        await TestHost.StopAllAsync(_hosts);
        _server?.Dispose();
    }

    [Fact]
    public async Task A_client_and_a_worker_run_tasks_over_TLS_with_a_client_certificate()
    {
        string prefix = RedisFixture.NewPrefix();
        IHost worker = await TestHost.StartAsync(output, "tls-worker", Server.Configuration, prefix, new MemoryLedger(), celeriac: o => o.ConfigureRedis = Server.Trust);
        _hosts.Add(worker);
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = Server.Configuration, KeyPrefix = prefix, ConfigureRedis = Server.Trust });

        var clock = Stopwatch.StartNew();
        TaskHandle<int>[] handles = await Calc.AddTask.DelayManyAsync(client, [.. Enumerable.Range(0, 100).Select(n => (n, 2))]);
        int[] sums = await Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(20))));
        TaskResult record = await handles[0].GetResultAsync();
        long ranMs = clock.ElapsedMilliseconds;

        // The worker's blocking connection (BLPOP) is a second connection: it must be made with the same TLS settings.
        var admin = StackExchange.Redis.ConfigurationOptions.Parse(Server.Configuration);
        Server.Trust(admin);
        admin.AllowAdmin = true;
        await using StackExchange.Redis.ConnectionMultiplexer observer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(admin);
        string clients = "";
        await Wait.UntilAsync(
            async () => (clients = (string)(await observer.GetDatabase().ExecuteAsync("CLIENT", "LIST"))!).Contains("name=celeriac-blocking", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the worker's blocking connection to be connected over TLS", pollMs: 100);
        output.WriteLine($"OBSERVED: 100 tasks over TLS (client certificate, test CA) in {ranMs} ms; worker {record.Worker}, state {record.State}; clients: "
            + string.Join("; ", clients.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ').FirstOrDefault(f => f.StartsWith("name=", StringComparison.Ordinal)))));
        Assert.Equal(Enumerable.Range(2, 100), sums);
        Assert.Equal("tls-worker", record.Worker);
    }

    [Fact]
    public async Task A_client_that_does_not_trust_the_servers_CA_is_refused_with_a_message_about_TLS()
    {
        var clock = Stopwatch.StartNew();
        InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = Server.Configuration }));
        output.WriteLine($"OBSERVED: refused after {clock.ElapsedMilliseconds} ms: {refused.Message}");
        Assert.Contains($"Could not connect to Redis at 127.0.0.1:{Server.Port}: the TLS handshake failed", refused.Message, StringComparison.Ordinal);
        Assert.Contains("UntrustedRoot", refused.Message, StringComparison.Ordinal);
        Assert.Null(refused.InnerException);
    }

    [Fact]
    public async Task When_the_client_library_gives_no_reason_our_own_handshake_names_the_untrusted_certificate()
    {
        // The probe that runs when StackExchange.Redis gives up before its handshake says why (as it did on a CI
        // machine where the refusal read "no server answered within the connect timeout").
        InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => Celeriac.Redis.RedisBroker.ThrowIfTlsRefusedAsync(StackExchange.Redis.ConfigurationOptions.Parse(Server.Configuration), $"127.0.0.1:{Server.Port}", customTrust: false, CancellationToken.None));
        output.WriteLine($"OBSERVED: {refused.Message}");
        Assert.Contains($"Could not connect to Redis at 127.0.0.1:{Server.Port}: the TLS handshake failed: this machine does not trust the server's certificate", refused.Message, StringComparison.Ordinal);
        Assert.Contains("UntrustedRoot", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_trusted_client_without_the_required_client_certificate_is_told_the_server_ended_the_handshake()
    {
        InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => CeleriacClient.ConnectAsync(new CeleriacOptions
            {
                Redis = Server.Configuration + ",connectTimeout=1",
                ConfigureRedis = o => o.CertificateValidation += (_, _, _, _) => true,
            }));
        output.WriteLine($"OBSERVED: {refused.Message}");
        Assert.Contains($"Could not connect to Redis at 127.0.0.1:{Server.Port}: the TLS handshake failed: the server ended it", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ssl_to_a_port_that_never_answers_the_handshake_says_so_instead_of_hanging()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        int port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var clock = Stopwatch.StartNew();
        InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = $"127.0.0.1:{port},ssl=true,connectTimeout=1000" }));
        output.WriteLine($"OBSERVED: refused after {clock.ElapsedMilliseconds} ms: {refused.Message}");
        Assert.Contains($"Could not connect to Redis at 127.0.0.1:{port}: the TLS handshake did not finish within 1000 ms", refused.Message, StringComparison.Ordinal);
    }
}
