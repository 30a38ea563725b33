using System.Globalization;

namespace Celeriac.TestTasks;

/// <summary>
/// Tasks for the workflow tests (chains, groups, chords): members that sleep, retry or always fail, callbacks that sum
/// or list what they got, and a chain step; each records what it did in the ledger, so a test sees every run.
/// </summary>
public sealed partial class Flows(ILedger ledger)
{
    /// <summary>A chord member: <paramref name="n"/> squared, after <paramref name="milliseconds"/>.</summary>
    [Task(Queue = "slow")]
    public async Task<long> Square(string run, int n, int milliseconds, CancellationToken cancellationToken)
    {
        await ledger.RecordAsync(run, "start:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        if (milliseconds > 0)
        {
            await Task.Delay(milliseconds, cancellationToken).ConfigureAwait(false);
        }

        await ledger.RecordAsync(run, "done:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return (long)n * n;
    }

    /// <summary>A member that fails (a retried exception) <paramref name="failures"/> times before it returns <paramref name="n"/> squared.</summary>
    [Task(Queue = "slow", MaxRetries = 5, RetryBackoff = "50ms", RetryBackoffMax = "200ms", RetryOn = new[] { typeof(InvalidOperationException) })]
    public async Task<long> FlakySquare(string run, int n, int failures, TaskContext context)
    {
        await ledger.RecordAsync(run, "try:" + n.ToString(CultureInfo.InvariantCulture) + ":" + context.Retries.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        if (context.Retries < failures)
        {
            throw new InvalidOperationException($"member {n} fails on try {context.Retries}");
        }

        await ledger.RecordAsync(run, "done:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return (long)n * n;
    }

    /// <summary>A member that always fails, with no retry.</summary>
    [Task(Queue = "slow")]
    public async Task<long> Broken(string run, int n)
    {
        await ledger.RecordAsync(run, "broken:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        throw new InvalidOperationException($"member {n} is broken");
    }

    /// <summary>A member that always fails and is set aside as a dead letter (no retry).</summary>
    [Task(Queue = "slow", DeadLetterOnFailure = true)]
    public async Task<long> BrokenDead(string run, int n)
    {
        await ledger.RecordAsync(run, "dead:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        throw new InvalidOperationException($"member {n} is set aside");
    }

    /// <summary>A chord callback: the sum of the members' results.</summary>
    [Task]
    public async Task<long> Sum(long[] values, string run)
    {
        long sum = 0;
        foreach (long value in values)
        {
            sum += value;
        }

        await ledger.RecordAsync(run, "sum:" + values.Length.ToString(CultureInfo.InvariantCulture) + ":" + sum.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return sum;
    }

    /// <summary>A chord callback over members that return <see cref="int"/>: their sum.</summary>
    [Task]
    public async Task<long> SumInts(int[] values, string run)
    {
        long sum = 0;
        foreach (int value in values)
        {
            sum += value;
        }

        await ledger.RecordAsync(run, "sum:" + sum.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return sum;
    }

    /// <summary>A chord callback: the members' results in the order it got them.</summary>
    [Task]
    public async Task<string> List(long[] values, string run)
    {
        string list = string.Join(",", values);
        await ledger.RecordAsync(run, "list:" + list).ConfigureAwait(false);
        return list;
    }

    /// <summary>An error callback: records the description of the failure it got.</summary>
    [Task]
    public async Task<int> Alert(string description, string run)
    {
        await ledger.RecordAsync(run, "alert:" + description).ConfigureAwait(false);
        return description.Length;
    }

    /// <summary>A chain step: <c>value * 10 + 1</c>, after <paramref name="milliseconds"/>.</summary>
    [Task(Queue = "slow")]
    public async Task<long> Step(long value, string run, string name, int milliseconds, CancellationToken cancellationToken)
    {
        await ledger.RecordAsync(run, "start:" + name).ConfigureAwait(false);
        if (milliseconds > 0)
        {
            await Task.Delay(milliseconds, cancellationToken).ConfigureAwait(false);
        }

        await ledger.RecordAsync(run, "done:" + name).ConfigureAwait(false);
        return (value * 10) + 1;
    }

    /// <summary>A chain step that always fails.</summary>
    [Task]
    public async Task<long> FailStep(long value, string run)
    {
        await ledger.RecordAsync(run, "fail:" + value.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        throw new ArgumentException($"step got {value} and refuses it");
    }

    /// <summary>A chain step that reports its lineage: "value|id|parent|root".</summary>
    [Task]
    public static string Lineage(long value, TaskContext context) => $"{value}|{context.TaskId}|{context.ParentId}|{context.RootId}";

    /// <summary>A group member inside a chain: <c>value + add</c>.</summary>
    [Task]
    public async Task<long> Plus(long value, string run, long add)
    {
        await ledger.RecordAsync(run, "plus:" + add.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return value + add;
    }

    /// <summary>A chord callback over members that are groups: the sum of every value.</summary>
    [Task]
    public async Task<long> SumNested(long[][] values, string run)
    {
        long sum = 0;
        foreach (long[] inner in values)
        {
            foreach (long value in inner)
            {
                sum += value;
            }
        }

        await ledger.RecordAsync(run, "nested:" + values.Length.ToString(CultureInfo.InvariantCulture) + ":" + sum.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return sum;
    }
}
