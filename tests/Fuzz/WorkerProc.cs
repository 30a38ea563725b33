using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Celeriac.Fuzz;

/// <summary>The worker under test: a Celeriac.TestWorker process; its output lines are checked for size as they come.</summary>
internal sealed class WorkerProc : IDisposable
{
    public const int MaxLogLineChars = 4096;
    private readonly Process _process;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WorkerProc(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public long Lines;

    public ConcurrentQueue<string> LongLines { get; } = new();

    public ConcurrentQueue<string> Tail { get; } = new();

    public static string Dll
    {
        get
        {
            // tests/Fuzz/bin/<Configuration>/<tfm>/ -> tests/TestWorker/bin/<Configuration>/<tfm>/Celeriac.TestWorker.dll
            var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string dll = Path.Combine(here.Parent!.Parent!.Parent!.Parent!.FullName, "TestWorker", "bin", here.Parent.Name, here.Name, "Celeriac.TestWorker.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"The test worker is not built at {dll}: build tests/Fuzz (it builds tests/TestWorker).", dll);
        }
    }

    public static async Task<WorkerProc> StartAsync(FuzzOptions o, string prefix)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in (string[])[Dll, "--redis", o.Redis, "--prefix", prefix, "--queues", "default,faults",
            "--concurrency", Text(o.Concurrency), "--visibility-ms", Text(o.VisibilityMs), "--max-message-bytes", Text(o.MaxMessageBytes),
            "--max-message-elements", Text(o.MaxMessageElements)])
        {
            start.ArgumentList.Add(arg);
        }

        var worker = new WorkerProc(new Process { StartInfo = start, EnableRaisingEvents = true });
        worker._process.OutputDataReceived += (_, e) => worker.OnLine(e.Data);
        worker._process.ErrorDataReceived += (_, e) => worker.OnLine(e.Data);
        worker._process.Exited += (_, _) => worker._ready.TrySetException(new InvalidOperationException("the worker exited before READY:\n" + string.Join("\n", worker.Tail)));
        worker._process.Start();
        worker._process.BeginOutputReadLine();
        worker._process.BeginErrorReadLine();
        await worker._ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return worker;
    }

    /// <summary>Peak resident memory so far, kB (VmHWM), or -1 once the process is gone.</summary>
    public long PeakKb() => StatusKb("VmHWM:");

    /// <summary>Resident memory now, kB (VmRSS), or -1 once the process is gone.</summary>
    public long ResidentKb() => StatusKb("VmRSS:");

    private long StatusKb(string field)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{Id}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return -1;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        Interlocked.Increment(ref Lines);
        if (line.Length > MaxLogLineChars)
        {
            LongLines.Enqueue($"{line.Length} chars: {line[..300]}");
        }

        Tail.Enqueue(line.Length > 300 ? line[..300] : line);
        while (Tail.Count > 20)
        {
            Tail.TryDequeue(out _);
        }

        if (line.StartsWith("READY", StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
    }

    public void Dispose()
    {
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
        }

        _process.Dispose();
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
