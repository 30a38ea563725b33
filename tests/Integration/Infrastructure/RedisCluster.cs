using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// A real Redis Cluster of the test's own: 3 masters and 3 replicas (<c>redis-server --cluster-enabled yes</c>, node
/// timeout 1 s) on free loopback ports, joined by <c>redis-cli --cluster create --cluster-replicas 1</c>, ready once
/// every node reports <c>cluster_state:ok</c> and every replica's link to its master is up. Disposing kills every node
/// and deletes the directory. The binaries are <c>CELERIAC_REDIS_SERVER</c> (else redis-server on the PATH) and the
/// redis-cli beside it.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private const int Nodes = 6;
    private readonly Dictionary<int, Process> _processes = [];
    private readonly string _directory;
    private readonly Action<string> _log;

    private RedisCluster(int[] ports, string directory, Action<string> log)
    {
        Ports = ports;
        _directory = directory;
        _log = log;
    }

    /// <summary>Every node's port (masters and replicas; which is which changes on a failover).</summary>
    public IReadOnlyList<int> Ports { get; }

    /// <summary>A StackExchange.Redis configuration string naming every node.</summary>
    public string Configuration => string.Join(",", Ports.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Starts the six nodes, creates the cluster and waits until it serves every slot.</summary>
    public static async Task<RedisCluster> StartAsync(Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        string directory = Directory.CreateTempSubdirectory("celeriac-cluster-").FullName;
        var cluster = new RedisCluster(FreePorts(), directory, log);
        try
        {
            foreach (int port in cluster.Ports)
            {
                cluster.StartNode(port);
            }

            foreach (int port in cluster.Ports)
            {
                await WaitUntilAsync(async () => (await cluster.CliAsync(port, "ping")).Contains("PONG", StringComparison.Ordinal), $"node {port} to answer");
            }

            string created = await cluster.CliAsync(null, ["--cluster", "create", .. cluster.Ports.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)), "--cluster-replicas", "1", "--cluster-yes"]);
            if (!created.Contains("[OK] All 16384 slots covered", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("redis-cli --cluster create did not cover every slot:\n" + created);
            }

            await cluster.WaitHealthyAsync(cluster.Ports);
            log($"[{DateTime.Now:HH:mm:ss.fff}] redis cluster on {cluster.Configuration} ready after {clock.ElapsedMilliseconds} ms");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until every node in <paramref name="ports"/> reports <c>cluster_state:ok</c> and every replica among them is linked to its master.</summary>
    public async Task WaitHealthyAsync(IEnumerable<int> ports)
    {
        foreach (int port in ports)
        {
            await WaitUntilAsync(async () => (await CliAsync(port, "cluster", "info")).Contains("cluster_state:ok", StringComparison.Ordinal), $"node {port} to report cluster_state:ok");
            await WaitUntilAsync(async () =>
            {
                string replication = await CliAsync(port, "info", "replication");
                return replication.Contains("role:master", StringComparison.Ordinal) || replication.Contains("master_link_status:up", StringComparison.Ordinal);
            }, $"node {port} (a replica) to be linked to its master");
        }
    }

    /// <summary>The port of the (not failed) master serving <paramref name="slot"/> now, read from <c>CLUSTER NODES</c>; -1 when none does.</summary>
    public async Task<int> MasterOfSlotAsync(int slot, int askPort)
    {
        foreach (string line in (await CliAsync(askPort, "cluster", "nodes")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] fields = line.Split(' ');
            if (fields.Length < 9 || !fields[2].Contains("master", StringComparison.Ordinal) || fields[2].Contains("fail", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (string range in fields[8..])
            {
                string[] bounds = range.Split('-');
                if (bounds[0].StartsWith('['))
                {
                    continue; // a slot being migrated
                }

                int from = int.Parse(bounds[0], CultureInfo.InvariantCulture);
                int to = bounds.Length > 1 ? int.Parse(bounds[1], CultureInfo.InvariantCulture) : from;
                if (slot >= from && slot <= to)
                {
                    string address = fields[1].Split('@')[0];
                    return int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
                }
            }
        }

        return -1;
    }

    /// <summary>The slot of <paramref name="key"/> as the cluster computes it (<c>CLUSTER KEYSLOT</c>).</summary>
    public async Task<int> KeySlotAsync(string key)
        => int.Parse((await CliAsync(Ports[0], "cluster", "keyslot", key)).Trim(), CultureInfo.InvariantCulture);

    /// <summary>SIGKILL one node (no shutdown, no save).</summary>
    public void Kill(int port)
    {
        if (_processes.Remove(port, out Process? process))
        {
            try
            {
                process.Kill();
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }
    }

    /// <summary>Runs redis-cli against <paramref name="port"/> (or with no -p when null) and returns its standard output.</summary>
    public async Task<string> CliAsync(int? port, params string[] args)
    {
        var start = new ProcessStartInfo(Binary("redis-cli")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (port is { } p)
        {
            start.ArgumentList.Add("-p");
            start.ArgumentList.Add(p.ToString(CultureInfo.InvariantCulture));
        }

        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process cli = Process.Start(start) ?? throw new InvalidOperationException("Could not start redis-cli.");
        Task<string> stdout = cli.StandardOutput.ReadToEndAsync();
        Task<string> stderr = cli.StandardError.ReadToEndAsync();
        await cli.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return await stdout + await stderr;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        foreach (int port in _processes.Keys.ToArray())
        {
            Kill(port);
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }

    private void StartNode(int port)
    {
        string p = port.ToString(CultureInfo.InvariantCulture);
        var start = new ProcessStartInfo(Binary("redis-server")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["--port", p, "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{p}.conf",
                     "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no", "--dir", _directory, "--dbfilename", $"dump-{p}.rdb",
                     "--daemonize", "no", "--loglevel", "warning", "--logfile", Path.Combine(_directory, $"redis-{p}.log")])
        {
            start.ArgumentList.Add(arg);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start redis-server.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes[port] = process;
    }

    private static string Binary(string name)
    {
        if (Environment.GetEnvironmentVariable("CELERIAC_REDIS_SERVER") is { Length: > 0 } server)
        {
            string beside = Path.Combine(Path.GetDirectoryName(server) ?? ".", name);
            if (name == "redis-server")
            {
                return server;
            }

            if (File.Exists(beside))
            {
                return beside;
            }
        }

        return name;
    }

    /// <summary>Six loopback ports whose cluster bus ports (port + 10000) are free too.</summary>
    private static int[] FreePorts()
    {
        var ports = new List<int>();
        while (ports.Count < Nodes)
        {
            int port;
            using (var listener = new TcpListener(IPAddress.Loopback, 0))
            {
                listener.Start();
                port = ((IPEndPoint)listener.LocalEndpoint).Port;
            }

            if (port + 10000 <= 65535 && !ports.Contains(port) && IsFree(port + 10000))
            {
                ports.Add(port);
            }
        }

        return [.. ports];
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what)
        => Wait.UntilAsync(condition, TimeSpan.FromSeconds(30), what, pollMs: 100);
}

/// <summary>One <see cref="RedisCluster"/> shared by the classes of the <see cref="RedisClusterCollection"/>, with a multiplexer connected to it.</summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    private RedisCluster? _cluster;
    private ConnectionMultiplexer? _multiplexer;

    public RedisCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster was not started.");

    public ConnectionMultiplexer Multiplexer => _multiplexer ?? throw new InvalidOperationException("The cluster was not started.");

    public string Configuration => Cluster.Configuration;

    public async Task InitializeAsync()
    {
        _cluster = await RedisCluster.StartAsync(_ => { });
        ConfigurationOptions options = ConfigurationOptions.Parse(_cluster.Configuration);
        options.ClientName = "celeriac-tests";
        _multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
    }

    public async Task DisposeAsync()
    {
        if (_multiplexer is not null)
        {
            await _multiplexer.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>The test classes that share one <see cref="RedisClusterFixture"/> (they run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis-cluster";
}
