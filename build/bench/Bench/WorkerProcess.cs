using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>One STAT line of the worker, with Redis's CPU read by the driver as the line arrived.</summary>
internal readonly record struct WorkerSample(long UnixMs, long Completed, long AllocBytes, int Gen0, int Gen1, int Gen2, double PauseMs, double CpuMs, double RedisCpuSeconds);

/// <summary>A worker child process (build/bench/BenchWorker, native or JIT) and its STAT samples.</summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<WorkerSample> _samples = [];
    private readonly Task _sampler;
    private readonly IDatabase _admin;

    private WorkerProcess(Process process, IDatabase admin)
    {
        _process = process;
        _admin = admin;
        _sampler = Task.Run(SampleLoopAsync);
    }

    public int Pid => _process.Id;

    public IReadOnlyList<WorkerSample> Samples
    {
        get
        {
            lock (_samples)
            {
                return [.. _samples];
            }
        }
    }

    /// <summary>
    /// Starts the worker binary <paramref name="workerBin"/> (build/bench/BenchWorker): a native executable is run
    /// directly, a <c>.dll</c> with <c>dotnet</c> (the JIT worker). A <paramref name="concurrency"/> of 0 starts it with
    /// every worker option at its default (no concurrency, prefetch or track-started given: what a new user runs).
    /// </summary>
    public static WorkerProcess Start(string workerBin, string redis, string prefix, string queues, int concurrency, int prefetch, bool trackStarted, IDatabase admin, string logPath, params string[] extra)
    {
        bool jit = workerBin.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        string[] command = jit ? ["dotnet", workerBin] : [workerBin];
        // CELERIAC_BENCH_PERF=<dir>: profile each worker under `perf record` (its CPU figures are then perf's, not the
        // worker's: use it to find hot spots, never for the table).
        string? perfDir = Environment.GetEnvironmentVariable("CELERIAC_BENCH_PERF");
        var info = new ProcessStartInfo(perfDir is null ? command[0] : "perf")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (perfDir is not null)
        {
            foreach (string a in new[] { "record", "-F", "1999", "-g", "-o", Path.Combine(perfDir, $"worker-{Environment.TickCount64}.data"), "--", command[0] })
            {
                info.ArgumentList.Add(a);
            }

            if (jit)
            {
                // perf-<pid>.map for the JIT's code; a native worker keeps its own symbols (StripSymbols=false).
                info.Environment["DOTNET_PerfMapEnabled"] = "1";
                info.Environment["DOTNET_EnableWriteXorExecute"] = "0";
            }
        }

        foreach (string a in command[1..])
        {
            info.ArgumentList.Add(a);
        }

        string[] options = concurrency == 0
            ? ["--redis", redis, "--prefix", prefix, "--queues", queues, "--defaults", "true"]
            : ["--redis", redis, "--prefix", prefix, "--queues", queues, "--concurrency", concurrency.ToString(CultureInfo.InvariantCulture), "--prefetch", prefetch.ToString(CultureInfo.InvariantCulture), "--track-started", trackStarted ? "true" : "false"];
        foreach (string a in (string[])[.. options, .. extra])
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_gcServer"] = "0";
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the worker");
        var worker = new WorkerProcess(process, admin);
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (log)
                {
                    log.WriteLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                worker._lines.Writer.TryComplete();
            }
            else if (e.Data == "READY")
            {
                worker._ready.TrySetResult();
            }
            else
            {
                worker._lines.Writer.TryWrite(e.Data);
            }
        };
        process.Exited += (_, _) => worker._ready.TrySetException(new InvalidOperationException($"the worker exited with {process.ExitCode} before READY; see {logPath}"));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    public Task WaitReadyAsync() => _ready.Task.WaitAsync(TimeSpan.FromSeconds(60));

    /// <summary>Waits until the worker reports at least <paramref name="completed"/> finished tasks; fails when progress stalls.</summary>
    public async Task WaitCompletedAsync(long completed, TimeSpan stall)
    {
        long last = -1;
        var sinceProgress = Stopwatch.StartNew();
        while (true)
        {
            long now = Latest?.Completed ?? 0;
            if (now >= completed)
            {
                return;
            }

            if (now != last)
            {
                last = now;
                sinceProgress.Restart();
            }
            else if (sinceProgress.Elapsed > stall)
            {
                throw new TimeoutException($"the worker stalled at {now} of {completed} completed tasks");
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the worker exited ({_process.ExitCode}) at {now} of {completed} completed tasks");
            }

            await Task.Delay(20);
        }
    }

    public WorkerSample? Latest
    {
        get
        {
            lock (_samples)
            {
                return _samples.Count == 0 ? null : _samples[^1];
            }
        }
    }

    /// <summary>utime + stime of the process (from /proc/&lt;pid&gt;/stat), in milliseconds.</summary>
    public double ProcCpuMs()
    {
        (double user, double sys) = ProcCpuSplitMs();
        return user + sys;
    }

    /// <summary>utime and stime separately (ms): a high system share means syscalls and context switches.</summary>
    public (double User, double Sys) ProcCpuSplitMs()
    {
        string stat = File.ReadAllText($"/proc/{Pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state); utime is field 14, stime field 15; CLK_TCK = 100 on Linux.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) * 10.0, long.Parse(fields[12], CultureInfo.InvariantCulture) * 10.0);
    }

    /// <summary>VmHWM (peak resident set) in MiB.</summary>
    public double PeakRssMiB()
    {
        foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return double.NaN;
    }

    private async Task SampleLoopAsync()
    {
        await foreach (string line in _lines.Reader.ReadAllAsync())
        {
            if (!line.StartsWith("STAT ", StringComparison.Ordinal))
            {
                continue;
            }

            string[] f = line.Split(' ');
            double redisCpu = double.NaN;
            try
            {
                redisCpu = await RedisSnapshot.CpuAsync(_admin);
            }
            catch (RedisException)
            {
            }

            var sample = new WorkerSample(
                long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture),
                int.Parse(f[4], CultureInfo.InvariantCulture), int.Parse(f[5], CultureInfo.InvariantCulture), int.Parse(f[6], CultureInfo.InvariantCulture),
                double.Parse(f[7], CultureInfo.InvariantCulture), double.Parse(f[8], CultureInfo.InvariantCulture), redisCpu);
            lock (_samples)
            {
                _samples.Add(sample);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                // The worker exits when its stdin closes; give it (and a wrapping `perf record`) a moment to finish.
                _process.StandardInput.Close();
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await _process.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }

            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
        }

        _lines.Writer.TryComplete();
        await _sampler;
        _process.Dispose();
    }
}
