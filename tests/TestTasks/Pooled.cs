namespace Celeriac.TestTasks;

/// <summary>
/// Tasks for the per-queue pools (<c>WorkerOptions.Pools</c>): each records <c>start:n@ms</c> and <c>done:n@ms</c> (Unix
/// milliseconds, comparable across processes) in its ledger run, so that a test reads from the ledger's order how many
/// ran at once and from the times when they ran.
/// </summary>
public sealed partial class Pooled(ILedger ledger)
{
    /// <summary>A long task on the <c>reports</c> queue: waits <paramref name="milliseconds"/> between its two entries.</summary>
    [Task(Queue = "reports")]
    public Task<int> Report(string run, int n, int milliseconds, CancellationToken cancellationToken)
        => TimedAsync(run, n, milliseconds, cancellationToken);

    /// <summary>The same wait on the <c>default</c> queue.</summary>
    [Task]
    public Task<int> Timed(string run, int n, int milliseconds, CancellationToken cancellationToken)
        => TimedAsync(run, n, milliseconds, cancellationToken);

    /// <summary>Reads the ledger entries of <paramref name="entries"/> back as (kind, n, Unix ms).</summary>
    public static IReadOnlyList<(string Kind, int N, long AtMs)> Parse(IEnumerable<string> entries)
        => [.. entries.Select(static e =>
        {
            string[] parts = e.Split(':', '@');
            return (parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
        })];

    /// <summary>The most runs between their start and done entries at once, in the ledger's order.</summary>
    public static int PeakConcurrency(IEnumerable<string> entries)
    {
        int running = 0;
        int peak = 0;
        foreach ((string kind, _, _) in Parse(entries))
        {
            running += kind == "start" ? 1 : -1;
            peak = Math.Max(peak, running);
        }

        return peak;
    }

    private async Task<int> TimedAsync(string run, int n, int milliseconds, CancellationToken cancellationToken)
    {
        await ledger.RecordAsync(run, Entry("start", n)).ConfigureAwait(false);
        await Task.Delay(milliseconds, cancellationToken).ConfigureAwait(false);
        await ledger.RecordAsync(run, Entry("done", n)).ConfigureAwait(false);
        return n;
    }

    private static string Entry(string kind, int n)
        => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kind}:{n}@{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}");
}
