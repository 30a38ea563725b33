// Celeriac.Fuzz — a seeded mutation and generation fuzzer of what a worker reads. It writes messages straight into a
// queue's keys of a real redis-server (docs/protocol.md §2), valid tasks interleaved, runs a real worker process
// (tests/TestWorker) and checks the invariants of docs/reliability.md §8:
//   worker-alive     the worker process never dies
//   settled          every message written is run (SUCCESS/FAILURE/REVOKED) or dead-lettered with a documented reason,
//                    one of the outcomes its category allows, within one visibility timeout after its batch's share of work
//   valid-on-time    every valid task sent through the client succeeds with its value within the same deadline
//   memory           the worker's peak resident memory (VmHWM) stays under the documented bound
//   bounded-text     stored dead-letter reasons, result records of refused messages and log lines stay bounded in size
// Every failure is saved as a reproducer file (JSON with the message hash's fields); --replay FILE... runs those alone.
//
//   Celeriac.Fuzz --redis host:port [--seed N] [--messages N] [--minutes N] [--batch N] [--out DIR] [--concurrency N]
//                 [--visibility-ms N] [--max-message-bytes N] [--max-message-elements N] [--only a,b] [--skip a,b] [--replay FILE...]
// Exit code 0 when every invariant held, 1 otherwise.
using Celeriac.Fuzz;

FuzzOptions options = FuzzOptions.Parse(args);
await using var run = new FuzzRun(options);
return await run.RunAsync();
