using System.Text.Json;
using Celeriac.Brokers;

namespace Celeriac.Control;

/// <summary>
/// The client's half of the command path: reads the registry for the addressed workers, queues the command for each,
/// and collects the replies until all of them answered or the timeout passed (polling the request's reply list).
/// </summary>
internal sealed class ControlRequests
{
    /// <summary>How often the reply list is read while replies are awaited.</summary>
    private static readonly TimeSpan ReplyPoll = TimeSpan.FromMilliseconds(20);

    /// <summary>How long replies are kept after the sender stopped waiting (late ones are never read; this only bounds the key's life).</summary>
    private static readonly TimeSpan ReplyKeep = TimeSpan.FromSeconds(10);

    private readonly Func<CancellationToken, Task<ITaskBroker>> _broker;
    private readonly TimeProvider _time;

    public ControlRequests(Func<CancellationToken, Task<ITaskBroker>> broker, TimeProvider time)
    {
        _broker = broker;
        _time = time;
    }

    /// <summary>The broker's registry and command path.</summary>
    public async Task<IWorkerControl> ControlAsync(CancellationToken cancellationToken)
    {
        ITaskBroker broker = await _broker(cancellationToken).ConfigureAwait(false);
        return broker as IWorkerControl ?? throw new NotSupportedException($"The {broker.Name} broker has no worker registry.");
    }

    /// <summary>The live workers, ordered by id.</summary>
    public async Task<IReadOnlyList<WorkerInfo>> ListAsync(CancellationToken cancellationToken)
    {
        IWorkerControl control = await ControlAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<(ReadOnlyMemory<byte> Record, long ExpiresAtMs)> entries = await control.ListWorkersAsync(cancellationToken).ConfigureAwait(false);
        var workers = new List<WorkerInfo>(entries.Count);
        foreach ((ReadOnlyMemory<byte> record, long expires) in entries)
        {
            if (ControlCodec.DecodeWorker(record, expires) is { } worker)
            {
                workers.Add(worker);
            }
        }

        workers.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return workers;
    }

    /// <summary>Sends <paramref name="name"/> to <paramref name="worker"/> (or every live worker) and collects the replies.</summary>
    public async Task<ControlReplies<T>> SendAsync<T>(string name, string? argument, int number, string? worker, TimeSpan? timeout, Func<JsonElement, T> read, CancellationToken cancellationToken)
    {
        TimeSpan wait = timeout ?? WorkerInspector.DefaultTimeout;
        if (wait <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), wait, "A control command's timeout must be positive.");
        }

        if (worker is not null && worker.Length == 0)
        {
            throw new ArgumentException("A worker id cannot be empty; pass null to address every worker.", nameof(worker));
        }

        IWorkerControl control = await ControlAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<WorkerInfo> live = await ListAsync(cancellationToken).ConfigureAwait(false);
        List<string> targets = worker is null
            ? [.. live.Select(w => w.Id)]
            : live.Any(w => string.Equals(w.Id, worker, StringComparison.Ordinal)) ? [worker] : [];
        if (targets.Count == 0)
        {
            // Nobody to ask: an unknown (or dead) worker is missing at once, without waiting for the timeout.
            return new ControlReplies<T> { Replies = [], Missing = worker is null ? [] : [worker] };
        }

        string requestId = Guid.NewGuid().ToString("N");
        long deadline = _time.GetUtcNow().ToUnixTimeMilliseconds() + (long)wait.TotalMilliseconds;
        byte[] command = ControlCodec.EncodeCommand(new ControlCommand(requestId, name, argument, number, deadline));
        await control.SendCommandAsync(targets, command, deadline, cancellationToken).ConfigureAwait(false);

        var pending = new HashSet<string>(targets, StringComparer.Ordinal);
        var replies = new List<WorkerReply<T>>(targets.Count);
        long started = _time.GetTimestamp();
        while (true)
        {
            foreach (ReadOnlyMemory<byte> bytes in await control.TakeRepliesAsync(requestId, cancellationToken).ConfigureAwait(false))
            {
                if (ControlCodec.DecodeReply(bytes, read) is { } reply && pending.Remove(reply.Worker))
                {
                    replies.Add(reply);
                }
            }

            TimeSpan left = wait - _time.GetElapsedTime(started);
            if (pending.Count == 0 || left <= TimeSpan.Zero)
            {
                break;
            }

            await Task.Delay(left < ReplyPoll ? left : ReplyPoll, _time, cancellationToken).ConfigureAwait(false);
        }

        return new ControlReplies<T> { Replies = replies, Missing = [.. targets.Where(pending.Contains)] };
    }

    /// <summary>When a reply to a request that expires at <paramref name="deadlineMs"/> may be forgotten.</summary>
    public static long ReplyExpiry(long deadlineMs) => deadlineMs + (long)ReplyKeep.TotalMilliseconds;
}
