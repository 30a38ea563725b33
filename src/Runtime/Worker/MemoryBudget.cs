namespace Celeriac.Worker;

/// <summary>
/// The worker's memory budget for messages (<see cref="WorkerOptions.MaxMemoryInFlight"/>), so that what a worker holds
/// does not grow with its concurrency: a fetched message is charged <see cref="FetchCharge"/> (its bytes, and the
/// strings its envelope decodes into, at most twice its bytes), and a run whose arguments are about to be decoded is
/// charged <see cref="ElementCost"/> bytes per argument element (counted by the payload scan before any formatter runs).
/// A delivery's charges are given back when it returns to its pool.
/// <para>
/// The fetch asks for no more bytes than the budget has room for (and waits while it has none and something is held);
/// a run whose element charge does not fit waits until it does, unless no other run holds an element charge, so that
/// one message larger than the whole budget still runs (alone). The budget can therefore be exceeded by one fetched
/// message and one run's elements, never by a number of messages that grows with the concurrency.
/// </para>
/// </summary>
internal sealed class MemoryBudget
{
    /// <summary>The bytes one argument element may decode into (an object, a string or a small record and its reference).</summary>
    public const long ElementCost = 64;

    /// <summary>How long a waiter sleeps before it looks again, whatever it was told: a guard, not the wake-up path.</summary>
    private static readonly TimeSpan Recheck = TimeSpan.FromMilliseconds(250);

    private long _used;
    private int _elementCharges;
    private int _waiters;
    private TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A budget of <paramref name="limit"/> bytes.</summary>
    public MemoryBudget(long limit) => Limit = limit;

    /// <summary>The budget in bytes.</summary>
    public long Limit { get; }

    /// <summary>The bytes charged now.</summary>
    public long Used => Volatile.Read(ref _used);

    /// <summary>What a fetched message of <paramref name="length"/> bytes is charged: its bytes and its envelope's strings.</summary>
    public static long FetchCharge(int length) => 3L * length;

    /// <summary>
    /// The most message bytes the next fetch may lease (its <c>MaxBytes</c>): the room left over the fetch charge per
    /// byte, at least 1 (the broker always leases one message). 0 when there is no room.
    /// </summary>
    public long FetchAllowance()
    {
        long room = Limit - Used;
        return room <= 0 ? 0 : Math.Max(1, room / 3);
    }

    /// <summary>Charges a fetched message (never refused: the fetch asked for no more than the room).</summary>
    public void Charge(long bytes) => Interlocked.Add(ref _used, bytes);

    /// <summary>
    /// Charges a run's argument elements (<paramref name="bytes"/>, <see cref="ElementCost"/> each), waiting while they do
    /// not fit and another run holds an element charge. <see cref="TryChargeElements"/> first: this is the slow path.
    /// </summary>
    public async Task ChargeElementsAsync(long bytes, CancellationToken cancellationToken)
    {
        while (!TryChargeElements(bytes))
        {
            await WaitForReleaseAsync(() => Fits(bytes) || Volatile.Read(ref _elementCharges) == 0, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Gives back a delivery's charges; <paramref name="hadElementCharge"/> when they include an element charge.</summary>
    public void Release(long bytes, bool hadElementCharge)
    {
        if (hadElementCharge)
        {
            Interlocked.Decrement(ref _elementCharges);
        }

        if (bytes != 0)
        {
            Interlocked.Add(ref _used, -bytes);
        }

        if (Volatile.Read(ref _waiters) > 0)
        {
            Interlocked.Exchange(ref _released, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    /// <summary>Waits until a release has made room for a fetch (<see cref="FetchAllowance"/> above 0), or a guard interval passed.</summary>
    public Task WaitForRoomAsync(CancellationToken cancellationToken) => WaitForReleaseAsync(() => FetchAllowance() > 0, cancellationToken);

    private bool Fits(long bytes) => Used + bytes <= Limit;

    /// <summary>Charges a run's argument elements when they fit, or when no other run holds an element charge.</summary>
    public bool TryChargeElements(long bytes)
    {
        // Counted first, so that two runs that both see no other element charge cannot both go over the budget unbounded:
        // at most one of them finds the count at 1 (its own).
        int charges = Interlocked.Increment(ref _elementCharges);
        if (charges == 1 || Fits(bytes))
        {
            Interlocked.Add(ref _used, bytes);
            return true;
        }

        Interlocked.Decrement(ref _elementCharges);
        return false;
    }

    private async Task WaitForReleaseAsync(Func<bool> ready, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiters);
        try
        {
            // Read the signal before the condition: a release after this read completes it, one before shows in the condition.
            Task released = Volatile.Read(ref _released).Task;
            if (ready())
            {
                return;
            }

            try
            {
                await released.WaitAsync(Recheck, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Look again.
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }
}
