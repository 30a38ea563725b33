using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// A Sentinel deployment on loopback: one master, one replica and three sentinels (<c>redis-server --sentinel</c>,
/// quorum 2, <c>down-after-milliseconds</c> 1000, <c>failover-timeout</c> 5000), each on a free port, in one temporary
/// directory. <see cref="Configuration"/> is what an application writes in <c>Celeriac:Redis</c>. Disposing kills
/// every process and deletes the directory.
/// </summary>
public sealed class RedisSentinelSet : IDisposable
{
    public const string ServiceName = "mymaster";
    public const int DownAfterMs = 1000;
    public const int FailoverTimeoutMs = 5000;

    private readonly ITestOutputHelper? _output;
    private readonly List<RedisProcess> _sentinels = [];
    private readonly int[] _sentinelPorts = [RedisProcess.FreePort(), RedisProcess.FreePort(), RedisProcess.FreePort()];

    private RedisSentinelSet(ITestOutputHelper? output, string directory)
    {
        _output = output;
        Directory = directory;
        MasterPort = RedisProcess.FreePort();
        ReplicaPort = RedisProcess.FreePort();
    }

    public string Directory { get; }

    public int MasterPort { get; }

    public int ReplicaPort { get; }

    public RedisProcess Master { get; private set; } = null!;

    public RedisProcess Replica { get; private set; } = null!;

    /// <summary>The sentinels' endpoints and the service name: <c>127.0.0.1:a,127.0.0.1:b,127.0.0.1:c,serviceName=mymaster</c>.</summary>
    public string Configuration => string.Join(",", _sentinelPorts.Select(p => $"127.0.0.1:{p}")) + ",serviceName=" + ServiceName;

    /// <summary>Starts the five processes and waits until every sentinel sees the replica and the two other sentinels.</summary>
    public static async Task<RedisSentinelSet> StartAsync(ITestOutputHelper? output)
    {
        string dir = System.IO.Directory.CreateTempSubdirectory("celeriac-sentinel-").FullName;
        var set = new RedisSentinelSet(output, dir);
        try
        {
            await set.StartProcessesAsync();
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>The master's address as the sentinels report it now.</summary>
    public async Task<int> CurrentMasterPortAsync()
    {
        foreach (int port in _sentinelPorts)
        {
            try
            {
                await using ConnectionMultiplexer sentinel = await ConnectSentinelAsync(port);
                if (await sentinel.GetServer("127.0.0.1", port).SentinelGetMasterAddressByNameAsync(ServiceName) is System.Net.IPEndPoint master)
                {
                    return master.Port;
                }
            }
            catch (RedisException)
            {
                // Try the next sentinel.
            }
        }

        return 0;
    }

    /// <summary>Waits (bounded) until the sentinels name the replica as the master; returns how long that took.</summary>
    public async Task<TimeSpan> WaitForPromotionAsync(TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (await CurrentMasterPortAsync() != ReplicaPort)
        {
            if (clock.Elapsed > bound)
            {
                throw new TimeoutException($"The sentinels did not promote the replica (port {ReplicaPort}) within {bound.TotalSeconds} s. Sentinel log:\n{_sentinels[0].Output}");
            }

            await Task.Delay(50);
        }

        return clock.Elapsed;
    }

    /// <summary>Waits until the replica has every write the master acknowledged so far; returns the replicas that confirmed.</summary>
    public async Task<long> WaitForReplicationAsync(TimeSpan bound)
    {
        await using ConnectionMultiplexer master = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{MasterPort}");
        return await MarkAndWaitAsync(master.GetDatabase(), bound);
    }

    /// <summary>
    /// SIGKILLs the master the moment the replica has confirmed every write the master acknowledged until then, so
    /// what the failover loses is only what is written between that confirmation and the kill (microseconds to a few
    /// milliseconds), not however far a replica starved of CPU happens to lag. Returns the replicas that confirmed.
    /// </summary>
    public async Task<long> KillMasterWhenReplicatedAsync(TimeSpan bound)
    {
        await using ConnectionMultiplexer master = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{MasterPort}");
        long acks = await MarkAndWaitAsync(master.GetDatabase(), bound);
        Master.Kill();
        return acks;
    }

    // WAIT waits for the offset of this connection's own last write: on a connection that never wrote it returns at
    // once, whatever the replica lags. A write first (after every write acknowledged to anyone before it) makes it mean
    // "the replica has everything up to now".
    private static async Task<long> MarkAndWaitAsync(IDatabase master, TimeSpan bound)
    {
        await master.StringSetAsync("celeriac-test:replication-mark", Guid.NewGuid().ToString("N"));
        return (long)await master.ExecuteAsync("WAIT", 1, (long)bound.TotalMilliseconds);
    }

    public void Dispose()
    {
        foreach (RedisProcess process in _sentinels)
        {
            process.Dispose();
        }

        Replica?.Dispose();
        Master?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string[] ServerArgs(int port, string dir) =>
        ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"];

    private static async Task<ConnectionMultiplexer> ConnectSentinelAsync(int port)
    {
        var options = new ConfigurationOptions { CommandMap = CommandMap.Sentinel, ConnectTimeout = 1000, AbortOnConnectFail = true };
        options.EndPoints.Add("127.0.0.1", port);
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    private async Task StartProcessesAsync()
    {
        var clock = Stopwatch.StartNew();
        string masterDir = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "master")).FullName;
        string replicaDir = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "replica")).FullName;
        Master = RedisProcess.Start("master", ServerArgs(MasterPort, masterDir));
        Replica = RedisProcess.Start("replica", [.. ServerArgs(ReplicaPort, replicaDir), "--replicaof", "127.0.0.1", MasterPort.ToString(CultureInfo.InvariantCulture)]);
        await WaitForPingAsync(MasterPort, Master);
        await WaitForPingAsync(ReplicaPort, Replica);

        foreach (int port in _sentinelPorts)
        {
            string dir = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "sentinel-" + port.ToString(CultureInfo.InvariantCulture))).FullName;
            string config = Path.Combine(dir, "sentinel.conf");
            await File.WriteAllTextAsync(config, string.Join('\n',
                $"port {port}",
                "bind 127.0.0.1",
                "daemonize no",
                $"dir {dir}",
                "loglevel notice",
                $"sentinel monitor {ServiceName} 127.0.0.1 {MasterPort} 2",
                $"sentinel down-after-milliseconds {ServiceName} {DownAfterMs}",
                $"sentinel failover-timeout {ServiceName} {FailoverTimeoutMs}",
                $"sentinel parallel-syncs {ServiceName} 1",
                ""));
            _sentinels.Add(RedisProcess.Start("sentinel-" + port.ToString(CultureInfo.InvariantCulture), [config, "--sentinel"]));
        }

        foreach ((int port, RedisProcess process) in _sentinelPorts.Zip(_sentinels))
        {
            await WaitForAsync(async () =>
            {
                await using ConnectionMultiplexer sentinel = await ConnectSentinelAsync(port);
                KeyValuePair<string, string>[] master = await sentinel.GetServer("127.0.0.1", port).SentinelMasterAsync(ServiceName);
                var fields = master.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                return fields.GetValueOrDefault("num-slaves") == "1" && fields.GetValueOrDefault("num-other-sentinels") == "2";
            }, process, "to see the replica and the two other sentinels");
        }

        _output?.WriteLine($"[{DateTime.Now:HH:mm:ss.fff}] sentinel set ready after {clock.ElapsedMilliseconds} ms: master {MasterPort} (pid {Master.Pid}), replica {ReplicaPort} (pid {Replica.Pid}), sentinels {string.Join(",", _sentinelPorts)}");
    }

    private static Task WaitForPingAsync(int port, RedisProcess process) => WaitForAsync(async () =>
    {
        var options = ConfigurationOptions.Parse($"127.0.0.1:{port}");
        options.ConnectTimeout = 500;
        await using ConnectionMultiplexer probe = await ConnectionMultiplexer.ConnectAsync(options);
        await probe.GetDatabase().PingAsync();
        return true;
    }, process, "to answer PING");

    private static async Task WaitForAsync(Func<Task<bool>> ready, RedisProcess process, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await ready())
                {
                    return;
                }
            }
            catch (RedisException)
            {
                // Not up yet.
            }

            if (process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(20))
            {
                throw new InvalidOperationException($"{process.Name} did not come up ({what}) within {clock.ElapsedMilliseconds} ms{(process.HasExited ? " (it exited)" : "")}. Its output:\n{process.Output}");
            }

            await Task.Delay(50);
        }
    }
}
