using System.Buffers;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Celeriac.Bench;

/// <summary>
/// The BenchmarkDotNet micro-benchmarks (build/bench/run.sh micro). A short job run in-process (no per-benchmark
/// project builds, so it works while src/ is being edited elsewhere and finishes in a few minutes), with allocations.
/// </summary>
internal static class Micro
{
    public static int Run(string[] args)
    {
        IConfig config = ManualConfig.CreateEmpty()
            .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithId("short-inproc"))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(MarkdownExporter.GitHub)
            .AddColumnProvider(BenchmarkDotNet.Columns.DefaultColumnProviders.Instance)
            .AddLogger(BenchmarkDotNet.Loggers.ConsoleLogger.Default)
            .WithOptions(ConfigOptions.JoinSummary | ConfigOptions.DisableLogFile);
        if (!args.Contains("--filter"))
        {
            args = [.. args, "--filter", "*"];
        }

        BenchmarkSwitcher.FromAssembly(typeof(Micro).Assembly).Run(args, config);
        return 0;
    }
}
