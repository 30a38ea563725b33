using System.Diagnostics;
using System.Globalization;

namespace Celeriac.TestTasks;

/// <summary>
/// Tasks for the reliability and fault tests: retry policies declared on [Task], time limits, a poison message that kills
/// its worker process, synchronous CPU work, and a stamp of when a task ran. Each records what it did in the ledger.
/// </summary>
public sealed partial class Faults(ILedger ledger)
{
    /// <summary>Fails (a retried exception) until its retry number reaches <paramref name="succeedOnRetry"/>.</summary>
    [Task(MaxRetries = 3, RetryBackoff = "100ms", RetryBackoffMax = "1s", RetryOn = new[] { typeof(InvalidOperationException) })]
    public async Task<int> Flaky(string run, int succeedOnRetry, TaskContext context)
    {
        await ledger.RecordAsync(run, "try:" + context.Retries.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        if (context.Retries < succeedOnRetry)
        {
            throw new InvalidOperationException($"attempt {context.Retries} fails");
        }

        return context.Retries;
    }

    /// <summary>Always fails; after its retries it is dead-lettered as well as FAILURE.</summary>
    [Task(MaxRetries = 2, RetryBackoff = "50ms", RetryJitter = false, DeadLetterOnFailure = true)]
    public async Task<int> AlwaysFails(string run, TaskContext context)
    {
        await ledger.RecordAsync(run, "try:" + context.Retries.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        throw new InvalidOperationException($"attempt {context.Retries} fails");
    }

    /// <summary>Throws an exception its policy never retries.</summary>
    [Task(MaxRetries = 5, RetryBackoff = "50ms", DontRetryOn = new[] { typeof(ArgumentException) })]
    public async Task<int> NeverRetried(string run, TaskContext context)
    {
        await ledger.RecordAsync(run, "try:" + context.Retries.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        throw new ArgumentException("bad argument, retrying cannot help");
    }

    /// <summary>Asks for one retry with its own countdown (Celery's self.retry(countdown=...)).</summary>
    [Task(MaxRetries = 2, RetryBackoff = "10m")]
    public async Task<int> AskRetry(string run, int countdownMs, TaskContext context)
    {
        await ledger.RecordAsync(run, "try:" + context.Retries.ToString(CultureInfo.InvariantCulture) + ":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        if (context.Retries == 0)
        {
            throw context.Retry(TimeSpan.FromMilliseconds(countdownMs), new TimeoutException("upstream timed out"));
        }

        return context.Retries;
    }

    /// <summary>Ignores its token and blocks its thread: only the hard time limit gets its slot back.</summary>
    [Task(Queue = "faults", TimeLimit = "1500ms")]
    public int Hang(string run, int n)
    {
        ledger.RecordAsync(run, "hang:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
        Thread.Sleep(TimeSpan.FromSeconds(30));
        return n;
    }

    /// <summary>Ignores its token and blocks its thread for <paramref name="milliseconds"/>, then records that it finished: the late outcome of a run its hard time limit abandoned.</summary>
    [Task(Queue = "faults", TimeLimit = "1500ms")]
    public int HangFor(string run, int n, int milliseconds)
    {
        ledger.RecordAsync(run, "hang:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
        Thread.Sleep(milliseconds);
        ledger.RecordAsync(run, "late:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
        return n;
    }

    /// <summary>Retries allowed, but it only ever exceeds its soft time limit: a time-limit failure is never retried.</summary>
    [Task(MaxRetries = 3, RetryBackoff = "10ms", SoftTimeLimit = "200ms")]
    public async Task<int> SoftLimitedWithRetries(string run, CancellationToken cancellationToken)
    {
        await ledger.RecordAsync(run, "try").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
        return 1;
    }

    /// <summary>Retries allowed, but it only ever exceeds its hard time limit: a time-limit failure is never retried.</summary>
    [Task(MaxRetries = 3, RetryBackoff = "10ms", TimeLimit = "300ms")]
    public int HardLimitedWithRetries(string run)
    {
        ledger.RecordAsync(run, "try").Wait();
        Thread.Sleep(1500);
        return 1;
    }

    /// <summary>Cooperates with its token: the soft time limit cancels it.</summary>
    [Task(SoftTimeLimit = "300ms")]
    public async Task<int> Cooperative(string run, CancellationToken cancellationToken)
    {
        await ledger.RecordAsync(run, "start").ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
        return 1;
    }

    /// <summary>A poison message: kills its worker process (as an OOM kill or a native crash would).</summary>
    [Task(Queue = "faults")]
    public int Crash(string run, int n)
    {
        ledger.RecordAsync(run, "crash:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
        Environment.FailFast("Celeriac test: a poison message crashes its worker");
        return n;
    }

    /// <summary>Synchronous CPU work on the worker's thread for <paramref name="milliseconds"/>, never yielding.</summary>
    [Task(Queue = "slow")]
    public int Spin(string run, int n, int milliseconds)
    {
        ledger.RecordAsync(run, "start:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
        var clock = Stopwatch.StartNew();
        double x = 0;
        while (clock.ElapsedMilliseconds < milliseconds)
        {
            for (int i = 0; i < 10_000; i++)
            {
                x += Math.Sqrt(i);
            }
        }

        ledger.RecordAsync(run, "done:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
        return x > 0 ? n : -n;
    }

    /// <summary>Records when it ran (unix ms) so a test can compare with the ETA.</summary>
    [Task]
    public async Task<int> Stamp(string run, int n)
    {
        await ledger.RecordAsync(run, n.ToString(CultureInfo.InvariantCulture) + ":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return n;
    }
}
