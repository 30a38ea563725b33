using Celeriac.Bench;

// Two modes:
//   Celeriac.Bench drive  --redis 127.0.0.1:6379 --worker-bin <path> [--n 20000] [--runs 3] [--quick] ...   the W1/W2 workloads (build/bench/run.sh)
//   Celeriac.Bench schedule --redis 127.0.0.1:6379 [--schedules 10000] [--instances 1] [--seconds 20]          the periodic scheduler's cost
//   Celeriac.Bench flow   --redis 127.0.0.1:6379 --worker-bin <path> [--n 10000] [--runs 3] [--round-trips 300]   a chord of N no-op members beside
//                                                     the plain drain of N, and a 3-step chain's round trip beside a single task's (run.sh flow)
//   Celeriac.Bench cpu    --redis 127.0.0.1:6379 --worker-bin <path> [--n 10000] [--concurrency 16]   W3: N tasks of 1 ms CPU, as Cpu and as Pool,
//                                                     drain time beside the ideal (run.sh cpu)
//   Celeriac.Bench mixed  --redis 127.0.0.1:6379 --worker-bin <path> [--round-trips 300] [--backlog 2000] [--concurrency 64]   I/O round
//                                                     trips alone and beside CPU tasks (Cpu, Pool, Cpu in a pool of their own) (run.sh mixed)
//   Celeriac.Bench telemetry --redis 127.0.0.1:6379 [--n 20000] [--rounds 3] [--concurrency 16]   telemetry's cost (build/bench/telemetry.sh; left out with the micro-benchmarks)
//   Celeriac.Bench events --redis 127.0.0.1:6379 [--n 20000] [--rounds 3] [--concurrency 16]   middleware's and task events' cost (build/bench/events.sh; left out with the micro-benchmarks)
//   Celeriac.Bench micro  [BenchmarkDotNet arguments, e.g. --filter *Envelope*]                            the micro-benchmarks
//                                                     (left out of the build with -p:CeleriacBenchMicro=false, as run.sh drive does)
// The worker child processes are build/bench/BenchWorker (--worker-bin: a native binary, or a .dll run with `dotnet`).
// run.sh publishes drive mode as a Native AOT binary (the client is measured too), or builds it for the JIT with --jit-driver.
string mode = args.Length > 0 ? args[0] : "drive";
string[] rest = args.Length > 0 ? args[1..] : [];
return mode switch
{
    "drive" => await Driver.RunAsync(BenchArgs.Parse(rest)),
#if !CELERIAC_BENCH_DRIVE_ONLY
    "schedule" => await ScheduleBench.RunAsync(BenchArgs.Parse(rest)),
    "flow" => await FlowBench.RunAsync(BenchArgs.Parse(rest)),
    "cpu" => await CpuBench.RunCpuAsync(BenchArgs.Parse(rest)),
    "mixed" => await CpuBench.RunMixedAsync(BenchArgs.Parse(rest)),
#endif
#if !CELERIAC_BENCH_NO_MICRO
    "telemetry" => await TelemetryBench.RunAsync(BenchArgs.Parse(rest)),
    "events" => await EventsBench.RunAsync(BenchArgs.Parse(rest)),
    "micro" => Micro.Run(rest),
#endif
    _ => Usage(mode),
};

static int Usage(string mode)
{
    Console.Error.WriteLine($"unknown mode '{mode}': use drive, schedule or micro (see build/bench/run.sh; the worker is build/bench/BenchWorker)");
    return 2;
}
