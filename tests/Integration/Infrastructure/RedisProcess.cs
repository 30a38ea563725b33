using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// One redis-server (or sentinel) process of a test deployment: <c>CELERIAC_REDIS_SERVER</c> (else <c>redis-server</c>
/// on the PATH) with the given arguments, its output kept for failure messages. Disposing kills it.
/// </summary>
public sealed class RedisProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private RedisProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>What the process printed (its log, with <c>--logfile ""</c>), for failure messages.</summary>
    public string Output => string.Join("\n", _lines.TakeLast(40));

    public static string Binary => Environment.GetEnvironmentVariable("CELERIAC_REDIS_SERVER") is { Length: > 0 } path ? path : "redis-server";

    /// <summary>A loopback TCP port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static RedisProcess Start(string name, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Binary}.");
        var server = new RedisProcess(name, process);
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>SIGKILL; waits (bounded) until it is gone.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        while (_lines.Count > 200)
        {
            _lines.TryDequeue(out _);
        }
    }
}
