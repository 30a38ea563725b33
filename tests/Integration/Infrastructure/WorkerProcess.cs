using System.Collections.Concurrent;
using System.Diagnostics;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// A Celeriac.TestWorker process (dotnet Celeriac.TestWorker.dll), for fault tests that kill real processes. Its output
/// goes to the test's output; disposing kills it (and its children) if it is still running, also when the test failed.
/// </summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper _output;
    private readonly string _name;
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _quiet;

    private WorkerProcess(string name, ITestOutputHelper output, ProcessStartInfo start)
    {
        _name = name;
        _output = output;
        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, stderr: false);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data, stderr: true);
        _process.Exited += (_, _) =>
        {
            _exited.TrySetResult();
            _ready.TrySetException(new InvalidOperationException($"{_name} exited with code {SafeExitCode()} before printing READY."));
        };
    }

    public ConcurrentQueue<string> Lines { get; } = new();

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once the process has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Where the TestWorker build sits: next to this test assembly's build, same configuration and framework.</summary>
    public static string WorkerDll
    {
        get
        {
            var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string tfm = testDir.Name;                       // net10.0
            string configuration = testDir.Parent!.Name;     // Debug | Release
            DirectoryInfo testsRoot = testDir.Parent.Parent!.Parent!.Parent!; // tests/
            string dll = Path.Combine(testsRoot.FullName, "TestWorker", "bin", configuration, tfm, "Celeriac.TestWorker.dll");
            return File.Exists(dll)
                ? dll
                : throw new FileNotFoundException($"The test worker was not built at {dll}. Build tests/Integration (it builds tests/TestWorker) with the same configuration.", dll);
        }
    }

    /// <summary>Starts a worker and waits (bounded) for its READY line.</summary>
    public static async Task<WorkerProcess> StartAsync(ITestOutputHelper output, string name, string redis, string prefix, string queues, int concurrency, int visibilityMs, params string[] extra)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])[WorkerDll, "--redis", redis, "--prefix", prefix, "--queues", queues, "--concurrency", concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture), "--visibility-ms", visibilityMs.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra])
        {
            if (arg.StartsWith("env:", StringComparison.Ordinal))
            {
                // "env:NAME=VALUE" sets an environment variable of the process instead of passing an argument.
                string[] pair = arg[4..].Split('=', 2);
                start.Environment[pair[0]] = pair[1];
                continue;
            }

            start.ArgumentList.Add(arg);
        }

        var worker = new WorkerProcess(name, output, start);
        var clock = Stopwatch.StartNew();
        worker._process.Start();
        worker._process.BeginOutputReadLine();
        worker._process.BeginErrorReadLine();
        try
        {
            string ready = await worker._ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
            output.WriteLine($"{name}: pid {worker.Id} ready after {clock.ElapsedMilliseconds} ms: {ready}");
            return worker;
        }
        catch (TimeoutException)
        {
            worker.Dispose();
            throw new TimeoutException($"{name} did not print READY within 30 s. Its output:\n{string.Join("\n", worker.Lines)}");
        }
        catch
        {
            worker.Dispose();
            throw;
        }
    }

    /// <summary>Waits (bounded) until the process has exited by itself.</summary>
    public Task WaitForExitAsync(TimeSpan timeout) => _exited.Task.WaitAsync(timeout);

    /// <summary>Sends a signal (TERM, STOP, CONT) with kill(1).</summary>
    public async Task SignalAsync(string signal)
    {
        using Process kill = Process.Start("kill", ["-" + signal, Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    /// <summary>SIGKILL, the whole process tree; waits (bounded) until it is gone.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public void Dispose()
    {
        _quiet = true;
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }

        _process.Dispose();
    }

    private void OnLine(string? line, bool stderr)
    {
        if (line is null)
        {
            return;
        }

        Lines.Enqueue(line);
        if (line.StartsWith("READY", StringComparison.Ordinal))
        {
            _ready.TrySetResult(line);
        }

        if (_quiet)
        {
            return;
        }

        try
        {
            _output.WriteLine($"[{DateTime.Now:HH:mm:ss.fff} {_name}{(stderr ? " stderr" : "")}] {line}");
        }
        catch (InvalidOperationException)
        {
            _quiet = true;
        }
    }

    private string SafeExitCode()
    {
        try
        {
            return _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }
}
