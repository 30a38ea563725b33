using System.Globalization;

namespace Celeriac.TestTasks;

/// <summary>
/// A task that leaks, as the user code that Celery's <c>--max-memory-per-child</c> exists for does: every run keeps a
/// block of memory for good in a static list. The recycling tests (WorkerOptions.MaxMemoryPerProcess) send it.
/// </summary>
public sealed partial class Leaky(ILedger ledger)
{
    private static readonly List<byte[]> Kept = [];

    /// <summary>Keeps <paramref name="kib"/> KiB (written, so that they are resident) and records <c>n@pid</c>.</summary>
    [Task(Queue = "leaks")]
    public async Task<int> Leak(string run, int n, int kib)
    {
        byte[] block = new byte[kib * 1024];
        Array.Fill(block, (byte)(n | 1));
        lock (Kept)
        {
            Kept.Add(block);
        }

        await ledger.RecordAsync(run, n.ToString(CultureInfo.InvariantCulture) + "@" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return n;
    }
}
