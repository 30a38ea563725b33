using Celeriac.Brokers.InMemory;
using Celeriac.Control;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.IntegrationTests.Control;

/// <summary>
/// The worker's half of the command path (<see cref="WorkerControl"/>) driven by a fake clock over the in-process
/// broker: the heartbeat keeps the entry's expiry three intervals ahead, a hinted command is answered, and a command
/// read after its deadline is dropped unanswered.
/// </summary>
public sealed class WorkerControlUnitTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    [Fact]
    public async Task The_heartbeat_keeps_the_entry_three_intervals_ahead_and_removal_ends_it()
    {
        var broker = new InMemoryBroker(_time);
        var worker = new StubWorker();
        var control = new WorkerControl(broker, worker, Interval, _time, NullLogger.Instance);
        await control.StartAsync(default);
        long expires = Assert.Single(await broker.ListWorkersAsync(default)).ExpiresAtMs;
        Assert.Equal((_time.GetUtcNow() + 3 * Interval).ToUnixTimeMilliseconds(), expires);

        using var stop = new CancellationTokenSource();
        Task loop = control.RunAsync(stop.Token);
        await WaitForTimerAsync();
        _time.Advance(Interval);
        await Infrastructure.Wait.UntilAsync(async () => (await broker.ListWorkersAsync(default)).Single().ExpiresAtMs > expires, TimeSpan.FromSeconds(10), "the next heartbeat to push the expiry on");
        Assert.Equal((_time.GetUtcNow() + 3 * Interval).ToUnixTimeMilliseconds(), (await broker.ListWorkersAsync(default)).Single().ExpiresAtMs);

        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
        await control.RemoveAsync();
        Assert.Empty(await broker.ListWorkersAsync(default));
    }

    [Fact]
    public async Task A_command_is_answered_and_one_read_after_its_deadline_is_dropped()
    {
        var broker = new InMemoryBroker(_time);
        var worker = new StubWorker();
        var control = new WorkerControl(broker, worker, Interval, _time, NullLogger.Instance);
        await control.StartAsync(default);
        using var stop = new CancellationTokenSource();
        Task loop = control.RunAsync(stop.Token);

        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await broker.SendCommandAsync([worker.Name], ControlCodec.EncodeCommand(new ControlCommand("fresh", ControlCommands.Ping, null, 0, now + 1000)), now + 1000, default);
        await Infrastructure.Wait.UntilAsync(async () => (await broker.TakeRepliesAsync("fresh", default)) is { Count: 1 } replies && ControlCodec.DecodeReply(replies[0], ControlCodec.ReadString)?.Value == "pong", TimeSpan.FromSeconds(10), "the hinted ping to be answered");

        // Read after its deadline (a worker frozen meanwhile, or one whose hint was lost): dropped, not carried out.
        _time.Advance(TimeSpan.FromSeconds(2));
        await broker.SendCommandAsync([worker.Name], ControlCodec.EncodeCommand(new ControlCommand("late", ControlCommands.Shutdown, null, 0, now + 1000)), now + 60_000, default);
        int beats = worker.Heartbeats;
        await WaitForTimerAsync();
        _time.Advance(Interval); // and the next heartbeat reads the queue again
        await Infrastructure.Wait.UntilAsync(async () => (await broker.TakeCommandsAsync(worker.Name, default)).Count == 0 && worker.Heartbeats > beats, TimeSpan.FromSeconds(10), "the worker to read its queue again");
        Assert.Empty(await broker.TakeRepliesAsync("late", default));
        Assert.Equal(0, worker.Shutdowns);

        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Lets the loop reach its wait (a fake clock's timer must exist before advancing it means anything).</summary>
    private static Task WaitForTimerAsync() => Task.Delay(200);

    private sealed class StubWorker : IControlledWorker
    {
        private int _heartbeats;

        public string Name => "stub";

        public int Shutdowns { get; private set; }

        public int Heartbeats => Volatile.Read(ref _heartbeats);

        public IReadOnlyList<string> Queues => ["default"];

        public WorkerInfo Describe(DateTimeOffset expiresAt)
        {
            Interlocked.Increment(ref _heartbeats);
            return new WorkerInfo { Id = Name, Host = "h", ProcessId = 1, Version = "0", Queues = Queues, Concurrency = 1, Prefetch = 1, StartedAt = expiresAt, LastHeartbeat = expiresAt, ExpiresAt = expiresAt, Processed = 0, Failed = 0, Active = 0 };
        }

        public IReadOnlyList<ActiveTask> Active() => [];

        public IReadOnlyList<ReservedTask> Reserved() => [];

        public IReadOnlyList<RegisteredTask> Registered() => [];

        public WorkerStats Stats() => throw new NotSupportedException();

        public Task<string?> AddQueueAsync(string queue) => Task.FromResult<string?>(null);

        public string? CancelQueue(string queue) => null;

        public (int Concurrency, string? Error) Resize(int delta) => (1, null);

        public void Shutdown() => Shutdowns++;
    }
}
