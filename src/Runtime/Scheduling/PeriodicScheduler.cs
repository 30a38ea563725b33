using Celeriac.Brokers;
using Celeriac.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Scheduling;

/// <summary>
/// The periodic scheduler of a worker (on unless <see cref="WorkerOptions.Scheduler"/> is off). It knows the static
/// schedules of its catalog and the schedules stored in the broker, and at each schedule's tick sends one claim per
/// tick through <see cref="IScheduleStore.ClaimTicksAsync"/>: the broker claims the tick and stores its task in one
/// atomic step, so any number of schedulers send each tick once, with no leader to elect. All timing is read from the
/// injected <see cref="TimeProvider"/>.
/// </summary>
internal sealed class PeriodicScheduler : BackgroundService
{
    private readonly BrokerProvider _brokers;
    private readonly WorkerOptions _worker;
    private readonly TaskCatalog _catalog;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly EnvelopeFactory _envelopes;
    private ITaskBroker? _broker;
    private IScheduleStore? _store;
    private long _version = -1;
    private long _nextRefreshMs;
    private readonly bool _supervisor;

    public PeriodicScheduler(BrokerProvider brokers, IOptions<CeleriacOptions> options, IOptions<WorkerOptions> worker, TaskCatalog catalog, ILogger<PeriodicScheduler> logger, TimeProvider time, Supervision.ProcessRole? role = null)
    {
        _supervisor = role?.IsSupervisor == true;
        _envelopes = new EnvelopeFactory(options.Value, catalog, time);
        _brokers = brokers;
        _worker = worker.Value;
        _catalog = catalog;
        _logger = logger;
        _time = time;
        Name = _worker.Name ?? $"{Environment.MachineName}:{Environment.ProcessId}";
    }

    /// <summary>The scheduler's name, recorded with each tick it claims.</summary>
    public string Name { get; }

    /// <summary>Ticks this scheduler claimed and sent, since it started.</summary>
    public long Claimed { get; private set; }

    /// <summary>Ticks another scheduler had claimed first.</summary>
    public long Lost { get; private set; }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_worker.Scheduler || _supervisor)
        {
            return; // a supervisor's children run the scheduler (WorkerOptions.Processes)
        }

        await Task.Yield(); // the host's start is not held up by the first read
        while (!stoppingToken.IsCancellationRequested)
        {
            long wakeMs;
            try
            {
                wakeMs = await PollAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                return; // stopping: the broker may be closing under the pass
            }
            catch (Exception ex)
            {
                SchedulerLog.PollFailed(_logger, ex, (int)ErrorDelay.TotalMilliseconds);
                wakeMs = NowMs + (long)ErrorDelay.TotalMilliseconds;
            }

            long delay = wakeMs - NowMs;
            if (delay > 0)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(delay), _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
            }
        }
    }

    /// <summary>How long the scheduler waits after a failed pass (the broker unreachable) before the next.</summary>
    internal static readonly TimeSpan ErrorDelay = TimeSpan.FromSeconds(1);

    /// <summary>
    /// One pass: loads the schedules (first pass) or re-reads them when the broker says they changed (at most every
    /// <see cref="WorkerOptions.SchedulerRefresh"/>), then claims every tick that is due. Returns when the next pass is due (unix ms).
    /// </summary>
    internal async Task<long> PollAsync(CancellationToken cancellationToken)
    {
        if (_store is null)
        {
            _broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
            _store = _broker as IScheduleStore ?? throw new InvalidOperationException($"The {_broker.Name} broker does not store schedules.");
            await LoadStaticAsync(cancellationToken).ConfigureAwait(false);
            SchedulerLog.Started(_logger, Name, _entries.Count);
        }

        long now = NowMs;
        if (now >= _nextRefreshMs)
        {
            _nextRefreshMs = now + Math.Max(1, (long)_worker.SchedulerRefresh.TotalMilliseconds);
            long version = await _store.GetSchedulesVersionAsync(cancellationToken).ConfigureAwait(false);
            if (version != _version)
            {
                await ReloadDynamicAsync(cancellationToken).ConfigureAwait(false);
                _version = version;
            }
        }

        await FireDueAsync(NowMs, cancellationToken).ConfigureAwait(false);

        long wake = _nextRefreshMs;
        foreach (Entry entry in _entries.Values)
        {
            wake = Math.Min(wake, entry.Next);
        }

        return wake;
    }

    private async Task LoadStaticAsync(CancellationToken cancellationToken)
    {
        var loaded = new List<Entry>();
        foreach (PeriodicSchedule schedule in _catalog.Schedules)
        {
            var record = new ScheduleRecord
            {
                Name = schedule.Name,
                Queue = schedule.Queue,
                TaskName = schedule.TaskName,
                Cron = schedule.Cron,
                EveryMs = (long)schedule.Every.TotalMilliseconds,
                TimeZone = schedule.TimeZone,
                MissedTicks = schedule.MissedTicks,
                MaxMissedRuns = schedule.MaxMissedRuns,
                Priority = schedule.Priority,
                Args = ScheduledMessage.NoArgs,
                IsStatic = true,
            };
            if (TryCreate(record) is { } entry)
            {
                await _store!.UpsertScheduleAsync(record, onlyIfAbsent: false, cancellationToken).ConfigureAwait(false); // listed with the others
                loaded.Add(entry);
            }
        }

        IReadOnlyList<ScheduleRecord?> states = await _store!.ReadSchedulesAsync([.. loaded.Select(e => (e.Record.Name, e.Record.Queue))], cancellationToken).ConfigureAwait(false);
        long now = NowMs;
        for (int i = 0; i < loaded.Count; i++)
        {
            loaded[i].Start(states[i]?.LastTickMs, states[i]?.CreatedMs, now);
            _entries[loaded[i].Record.Name] = loaded[i];
        }
    }

    private async Task ReloadDynamicAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<ScheduleRecord> stored = await _store!.ListSchedulesAsync(cancellationToken).ConfigureAwait(false);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long now = NowMs;
        foreach (ScheduleRecord record in stored)
        {
            if (record.IsStatic)
            {
                continue; // defined in code: this scheduler's catalog has it (or another worker's code does)
            }

            seen.Add(record.Name);
            if (_entries.TryGetValue(record.Name, out Entry? existing) && (existing.IsStatic || existing.SameDefinition(record)))
            {
                continue; // unchanged; or a stored schedule named like one of this catalog's: the code's definition wins here
            }

            if (TryCreate(record) is { } entry)
            {
                entry.Start(record.LastTickMs, record.CreatedMs, now);
                _entries[record.Name] = entry;
            }
        }

        foreach (string name in _entries.Where(e => !e.Value.IsStatic && !seen.Contains(e.Key)).Select(e => e.Key).ToList())
        {
            _entries.Remove(name);
        }
    }

    private Entry? TryCreate(ScheduleRecord record)
    {
        try
        {
            return new Entry(record, ScheduleSpec.Parse(record.Cron, record.EveryMs, record.TimeZone));
        }
        catch (ArgumentException ex)
        {
            SchedulerLog.InvalidSchedule(_logger, record.Name, ex.Message);
            return null;
        }
    }

    private async Task FireDueAsync(long now, CancellationToken cancellationToken)
    {
        Dictionary<string, List<(Entry Entry, TickClaim Claim)>>? byQueue = null;
        foreach (Entry entry in _entries.Values)
        {
            if (entry.Next > now)
            {
                continue;
            }

            ScheduleRecord record = entry.Record;
            List<long> ticks = entry.Spec.DueTicks(entry.Last, now, record.MissedTicks == MissedTicks.RunEach ? Math.Max(1, record.MaxMissedRuns) : 1);
            if (ticks.Count == 0)
            {
                entry.Advance(now);
                continue;
            }

            long latest = ticks[^1];
            if (record.MissedTicks == MissedTicks.Skip && now - latest > (long)_worker.SchedulerMisfireThreshold.TotalMilliseconds)
            {
                SchedulerLog.TickSkipped(_logger, record.Name, ScheduleHeaders.FormatTick(latest), now - latest);
                entry.Advance(latest);
                continue;
            }

            byQueue ??= new Dictionary<string, List<(Entry, TickClaim)>>(StringComparer.Ordinal);
            if (!byQueue.TryGetValue(record.Queue, out List<(Entry, TickClaim)>? claims))
            {
                byQueue[record.Queue] = claims = [];
            }

            foreach (long tick in ticks)
            {
                EnqueueItem item = ScheduledMessage.Build(_envelopes, _broker!, record, tick, entry.Spec.NextAfter(tick));
                claims.Add((entry, new TickClaim(record.Name, tick, item)));
            }
        }

        if (byQueue is null)
        {
            return;
        }

        await Task.WhenAll(byQueue.Select(group => ClaimAsync(group.Key, group.Value, cancellationToken))).ConfigureAwait(false);
    }

    private async Task ClaimAsync(string queue, List<(Entry Entry, TickClaim Claim)> claims, CancellationToken cancellationToken)
    {
        var outcomes = new long[claims.Count];
        await _store!.ClaimTicksAsync(queue, [.. claims.Select(c => c.Claim)], Name, outcomes, cancellationToken).ConfigureAwait(false);
        for (int i = 0; i < claims.Count; i++)
        {
            (Entry entry, TickClaim claim) = claims[i];
            long outcome = outcomes[i];
            switch (outcome)
            {
                case ClaimOutcome.Claimed:
                    Claimed++;
                    entry.Advance(claim.TickMs);
                    break;
                case ClaimOutcome.Paused:
                    entry.Advance(claim.TickMs);
                    break;
                case ClaimOutcome.IdInUse:
                    break; // tried again at the next pass with a new id
                default:
                    Lost++;
                    entry.Advance(Math.Max(claim.TickMs, outcome));
                    break;
            }
        }
    }

    /// <summary>A schedule this scheduler runs: its definition, its tick rule, and the last tick it knows to be taken.</summary>
    private sealed class Entry(ScheduleRecord record, ScheduleSpec spec)
    {
        public ScheduleRecord Record { get; } = record;

        public ScheduleSpec Spec { get; } = spec;

        public bool IsStatic => Record.IsStatic;

        /// <summary>The last tick known to be claimed (by anyone), or the instant the schedule was first seen.</summary>
        public long Last { get; private set; }

        /// <summary>The next tick to claim.</summary>
        public long Next { get; private set; }

        public void Start(long? lastTickMs, long? createdMs, long nowMs)
        {
            // A schedule never claimed starts when it was stored (a tick between then and now is due, not lost), and
            // never before: no runs for ticks before it existed.
            Last = lastTickMs ?? Math.Min(createdMs ?? nowMs, nowMs);
            Next = Spec.NextAfter(Last);
        }

        public void Advance(long tickMs)
        {
            Last = Math.Max(Last, tickMs);
            Next = Spec.NextAfter(Last);
        }

        public bool SameDefinition(ScheduleRecord other)
            => other.Queue == Record.Queue && other.TaskName == Record.TaskName && other.Cron == Record.Cron && other.EveryMs == Record.EveryMs
                && other.TimeZone == Record.TimeZone && other.MissedTicks == Record.MissedTicks && other.MaxMissedRuns == Record.MaxMissedRuns
                && other.Priority == Record.Priority && other.Args.Span.SequenceEqual(Record.Args.Span);
    }
}
