using System.Collections.Concurrent;
using System.Security.Cryptography;
using MessagePack;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// One reply channel per broker (process): <c>P:reply:&lt;clientId&gt;</c>. Ids made by <see cref="NewTaskId"/> carry the
/// client id, and the client writes the channel into each envelope's <c>reply_to</c>; the completion scripts publish
/// the whole final record there. <see cref="WaitResultAsync"/> for such an id then needs no per-call SUBSCRIBE,
/// UNSUBSCRIBE or second read. Pub/sub stays a hint: on timeout or reconnect the waiter re-reads the result hash.
/// </summary>
internal sealed partial class RedisBroker
{
    private readonly string _clientId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private readonly ConcurrentDictionary<string, ReplyWaiter> _replyWaiters = new(StringComparer.Ordinal);
    private readonly object _replyGate = new();
    private readonly ConcurrentDictionary<string, byte[]> _earlyReplies = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _earlyOrder = new();
    private long _earlyBytes;
    // Own tasks numbered above the floor get their reply as a message for sure (the subscription was up before they were
    // made, and nothing was lost since): their wait needs no first read of the hash. long.MaxValue: no such task yet.
    private long _replyFloor = long.MaxValue;
    private string? _replyChannel;
    private string? _idPrefix;
    private Task? _replySubscription;
    private long _taskSequence;

    /// <inheritdoc />
    public string? ReplyChannel => _replyChannel ??= Keys.Prefix + ":reply:" + _clientId;

    /// <summary>The first 19 characters of every id made here: the client id laid out as the first three groups of a GUID.</summary>
    private string IdPrefix => _idPrefix ??= _clientId[..8] + "-" + _clientId[8..12] + "-" + _clientId[12..16] + "-";

    /// <inheritdoc />
    /// <remarks>GUID-shaped (<c>8-4-4-4-12</c> hex): this client's 64-bit random id, then a 64-bit counter. No syscall per id.</remarks>
    public string NewTaskId() => FormatTaskId(IdPrefix, (ulong)Interlocked.Increment(ref _taskSequence));

    /// <summary>Lays out <paramref name="idPrefix"/> (19 chars: the client id as <c>8-4-4-</c>) and a counter as a GUID-shaped id.</summary>
    internal static string FormatTaskId(string idPrefix, ulong n)
        => string.Create(36, (idPrefix, n), static (span, state) =>
        {
            state.idPrefix.AsSpan().CopyTo(span);
            Span<char> hex = stackalloc char[16];
            state.n.TryFormat(hex, out _, "x16", System.Globalization.CultureInfo.InvariantCulture);
            hex[..4].CopyTo(span[19..]);
            span[23] = '-';
            hex[4..].CopyTo(span[24..]);
        });

    private bool IsOwnTaskId(string taskId) => taskId.Length == 36 && taskId.StartsWith(IdPrefix, StringComparison.Ordinal);

    /// <summary>The most replies kept for own tasks that nobody waits for yet (a wait started after its reply came).</summary>
    private const int EarlyReplyCapacity = 1024;

    /// <summary>The counter part of an id made by <see cref="NewTaskId"/> (the caller checked <see cref="IsOwnTaskId"/>).</summary>
    private static ulong TaskSequenceOf(string taskId)
    {
        Span<char> hex = stackalloc char[16];
        taskId.AsSpan(19, 4).CopyTo(hex);
        taskId.AsSpan(24, 12).CopyTo(hex[4..]);
        return ulong.TryParse(hex, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out ulong n) ? n : ulong.MaxValue;
    }

    /// <summary>Replies may have been lost (a connection dropped, or a kept reply was dropped): every own task made so far reads first.</summary>
    private void RaiseReplyFloor()
    {
        long now = Volatile.Read(ref _taskSequence);
        long floor;
        do
        {
            floor = Volatile.Read(ref _replyFloor);
            if (floor >= now)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _replyFloor, now, floor) != floor);
    }

    /// <summary>Whether task <paramref name="taskId"/>'s reply reaches this process as a message for sure (see <see cref="_replyFloor"/>).</summary>
    private bool ReplyIsCertain(string taskId)
    {
        ulong n = TaskSequenceOf(taskId);
        return n <= long.MaxValue && (long)n > Volatile.Read(ref _replyFloor);
    }

    /// <summary>Waits through the reply channel; returns null when another wait on the same id is already registered (the caller falls back).</summary>
    private async Task<TaskResult?> TryWaitReplyAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var waiter = new ReplyWaiter();
        if (!_replyWaiters.TryAdd(taskId, waiter))
        {
            return null;
        }

        bool answered = false;
        try
        {
            // Registered and subscribed first, then read: a completion between the two is in the read or in a message.
            // The read is skipped when the reply is certain to come as a message (the subscription was up before the
            // task was made, and no reply was lost since): a reply that came before this wait is kept for it.
            await EnsureReplySubscriptionAsync().ConfigureAwait(false);
            Interlocked.CompareExchange(ref _replyFloor, Volatile.Read(ref _taskSequence), long.MaxValue); // subscribed: tasks made from now on are certain
            if (TakeEarlyReply(taskId) is { } early && RedisResultCodec.Decode(early, out _) is { IsReady: true } kept)
            {
                answered = true;
                return kept; // the reply came before this wait
            }

            bool read = !ReplyIsCertain(taskId);
            long started = _time.GetTimestamp();
            while (true)
            {
                Task<TaskResult?> woken = waiter.Current;
                TaskResult result = read ? await GetResultAsync(taskId, queue, cancellationToken).ConfigureAwait(false) : TaskResult.Pending;
                read = true;
                TimeSpan remaining = timeout - _time.GetElapsedTime(started);
                if (result.IsReady || remaining <= TimeSpan.Zero)
                {
                    answered = result.IsReady;
                    return result;
                }

                try
                {
                    if (await woken.WaitAsync(remaining, _time, cancellationToken).ConfigureAwait(false) is { IsReady: true } replied)
                    {
                        answered = true;
                        return replied; // the message carried the whole final record: no second read
                    }
                }
                catch (TimeoutException)
                {
                    // Pub/sub is only a hint: the loop reads the hash once more and then returns.
                }

                waiter.Reset();
            }
        }
        finally
        {
            _replyWaiters.TryRemove(new KeyValuePair<string, ReplyWaiter>(taskId, waiter));
            if (!answered)
            {
                // Timed out or cancelled: a reply may have reached this waiter after it stopped looking (and is gone
                // with it). A later wait on any id made so far reads first.
                RaiseReplyFloor();
            }
        }
    }

    private Task EnsureReplySubscriptionAsync()
    {
        Task? current = Volatile.Read(ref _replySubscription);
        if (current is { IsCompletedSuccessfully: true })
        {
            return current;
        }

        lock (_replyGate)
        {
            if (_replySubscription is null || _replySubscription.IsFaulted || _replySubscription.IsCanceled)
            {
                Volatile.Write(ref _replyFloor, long.MaxValue); // nothing is certain until this subscription is up
                _replySubscription = _multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal(ReplyChannel!), OnReply);
            }

            return _replySubscription;
        }
    }

    /// <summary>A reply is the task's whole result record (<see cref="RedisResultCodec.Write"/>), which carries its id.</summary>
    private void OnReply(RedisChannel channel, RedisValue message)
    {
        try
        {
            byte[]? bytes = message;
            if (bytes is null)
            {
                return;
            }

            if (RedisResultCodec.ReadId(bytes) is not { } id)
            {
                return;
            }

            if (_replyWaiters.TryGetValue(id, out ReplyWaiter? waiter))
            {
                waiter.Set(RedisResultCodec.Decode(bytes, out _));
                return;
            }

            if (IsOwnTaskId(id))
            {
                KeepEarlyReply(id, bytes);
                // A wait that registered meanwhile may have looked before the reply was kept: hand it over.
                if (_replyWaiters.TryGetValue(id, out waiter) && TakeEarlyReply(id) is { } kept)
                {
                    waiter.Set(RedisResultCodec.Decode(kept, out _));
                }
            }
        }
        catch (MessagePackSerializationException)
        {
            // Not a reply we understand: the waiter's timeout re-read still finds the result.
        }
    }

    /// <summary>The most bytes of replies kept for own tasks nobody waits for yet (a larger reply is not kept: its wait reads).</summary>
    private const long EarlyReplyBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Keeps the reply of an own task that nobody waits for yet. Past <see cref="EarlyReplyCapacity"/> replies or
    /// <see cref="EarlyReplyBytes"/> the oldest go; the floor is raised *before* a reply goes, so that a wait that then
    /// misses it reads the stored result instead of waiting for a message that already came.
    /// </summary>
    private void KeepEarlyReply(string id, byte[] record)
    {
        if (record.Length > EarlyReplyBytes / 4)
        {
            RaiseReplyFloor(); // too big to keep: its wait will read
            return;
        }

        if (_earlyReplies.TryAdd(id, record))
        {
            Interlocked.Add(ref _earlyBytes, record.Length);
            _earlyOrder.Enqueue(id);
        }

        while ((_earlyOrder.Count > EarlyReplyCapacity || Volatile.Read(ref _earlyBytes) > EarlyReplyBytes) && _earlyOrder.TryDequeue(out string? oldest))
        {
            if (_earlyReplies.ContainsKey(oldest))
            {
                RaiseReplyFloor();
                TakeEarlyReply(oldest);
            }
        }
    }

    /// <summary>Removes and returns the kept reply of <paramref name="id"/>, if any.</summary>
    private byte[]? TakeEarlyReply(string id)
    {
        if (!_earlyReplies.TryRemove(id, out byte[]? record))
        {
            return null;
        }

        Interlocked.Add(ref _earlyBytes, -record.Length);
        return record;
    }

    /// <summary>After a reconnect a reply may have been missed: wake every waiter to re-read (off the event's thread).</summary>
    private void WakeReplyWaiters()
    {
        foreach (KeyValuePair<string, ReplyWaiter> entry in _replyWaiters)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static waiter => waiter.Set(null), entry.Value, preferLocal: false);
        }
    }

    /// <summary>
    /// One wait's wake-up: completed with the replied final result, or null for "re-read" (reconnect). The waiting code
    /// resumes inline where it is completed: <see cref="OnReply"/> runs as its own thread-pool work item (SE.Redis hands
    /// every pub/sub message to the pool, never runs a handler on its socket reader), so resuming there saves a hop on
    /// every round trip and blocks nothing of SE.Redis's.
    /// </summary>
    private sealed class ReplyWaiter
    {
        private TaskCompletionSource<TaskResult?> _current = new(TaskCreationOptions.None);

        public Task<TaskResult?> Current => Volatile.Read(ref _current).Task;

        public void Set(TaskResult? result) => Volatile.Read(ref _current).TrySetResult(result);

        public void Reset()
        {
            TaskCompletionSource<TaskResult?> current = Volatile.Read(ref _current);
            if (current.Task.IsCompleted)
            {
                Interlocked.CompareExchange(ref _current, new TaskCompletionSource<TaskResult?>(TaskCreationOptions.None), current);
            }
        }
    }
}
