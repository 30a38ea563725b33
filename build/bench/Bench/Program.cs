using Celeriac.Bench;

// One binary, three modes:
//   Celeriac.Bench drive  --redis 127.0.0.1:6379 [--n 20000] [--runs 3] [--quick] ...   the W1/W2 workloads (build/bench/run.sh)
//   Celeriac.Bench worker --redis ... --prefix ... --queues q1,q2 [--concurrency 64] [--prefetch 128]   a worker child process
//   Celeriac.Bench micro  [BenchmarkDotNet arguments, e.g. --filter *Envelope*]                   the micro-benchmarks
string mode = args.Length > 0 ? args[0] : "drive";
string[] rest = args.Length > 0 ? args[1..] : [];
return mode switch
{
    "drive" => await Driver.RunAsync(BenchArgs.Parse(rest)),
    "worker" => await WorkerMode.RunAsync(BenchArgs.Parse(rest)),
    "micro" => Micro.Run(rest),
    _ => Usage(mode),
};

static int Usage(string mode)
{
    Console.Error.WriteLine($"unknown mode '{mode}': use drive, worker or micro (see build/bench/run.sh)");
    return 2;
}
