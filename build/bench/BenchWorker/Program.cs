using Celeriac.Bench;

// The benchmark's worker child process, started by the driver (Celeriac.Bench drive, see WorkerProcess.cs):
//   Celeriac.BenchWorker --redis ... --prefix ... --queues q1,q2 [--concurrency 64] [--prefetch 128] [--track-started true]
//                        [--cpu-threads N] [--pool-queue q --pool-concurrency N (q, one of the queues, in a pool of its own)]
// A leading "worker" word (the old mode name of Celeriac.Bench) is accepted and ignored.
string[] rest = args.Length > 0 && args[0] == "worker" ? args[1..] : args;
return await WorkerMode.RunAsync(BenchArgs.Parse(rest));
