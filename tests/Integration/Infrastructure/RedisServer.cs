using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// A redis-server of the test's own (for tests that restart or pause Redis): <c>CELERIAC_REDIS_SERVER</c> (else
/// <c>redis-server</c> on the PATH), a free loopback port, a temporary directory, optionally AOF with fsync on every
/// write. Disposing kills it (resuming it first if paused) and deletes the directory.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly bool _aof;
    private Process? _process;

    private RedisServer(ITestOutputHelper output, bool aof, int port, string dir)
    {
        _output = output;
        _aof = aof;
        Port = port;
        Directory = dir;
    }

    public int Port { get; }

    public string Directory { get; }

    public string Configuration => $"127.0.0.1:{Port}";

    public int Pid => _process?.Id ?? 0;

    public static async Task<RedisServer> StartAsync(ITestOutputHelper output, bool aof)
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        string dir = System.IO.Directory.CreateTempSubdirectory("celeriac-redis-").FullName;
        var server = new RedisServer(output, aof, port, dir);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>SIGKILL (no shutdown save), then start again on the same port and directory (AOF is replayed).</summary>
    public async Task RestartAsync(TimeSpan down)
    {
        Kill();
        await Task.Delay(down);
        await StartProcessAsync();
    }

    /// <summary>SIGKILL: the server is gone until <see cref="StartAgainAsync"/>.</summary>
    public void Stop() => Kill();

    /// <summary>Starts the server again on the same port and directory, after <see cref="Stop"/>.</summary>
    public Task StartAgainAsync() => StartProcessAsync();

    public async Task SignalAsync(string signal)
    {
        using Process kill = Process.Start("kill", ["-" + signal, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    public void Dispose()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                using (Process.Start("kill", ["-CONT", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                {
                }

                Kill();
            }
        }
        catch (Exception)
        {
            // Cleanup only.
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Kill()
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _process = null;
    }

    private async Task StartProcessAsync()
    {
        string binary = Environment.GetEnvironmentVariable("CELERIAC_REDIS_SERVER") is { Length: > 0 } path ? path : "redis-server";
        var start = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--dir", Directory,
                     "--appendonly", _aof ? "yes" : "no", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning"])
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {binary}.");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var options = ConfigurationOptions.Parse(Configuration);
                options.ConnectTimeout = 500;
                await using ConnectionMultiplexer probe = await ConnectionMultiplexer.ConnectAsync(options);
                await probe.GetDatabase().PingAsync();
                break;
            }
            catch (RedisException) when (clock.Elapsed < TimeSpan.FromSeconds(15)) // refused, or LOADING while the AOF is replayed
            {
                await Task.Delay(50);
            }
        }

        _output.WriteLine($"[{DateTime.Now:HH:mm:ss.fff}] own redis-server pid {Pid} on {Configuration} (aof {_aof}) ready after {clock.ElapsedMilliseconds} ms");
    }
}
