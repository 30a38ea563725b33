using Celeriac.Worker;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The autoscaler's decisions on a fake clock, against a fake worker whose state each test sets: grow while work waits
/// (doubling, up to the maximum), shrink after an idle window by half the permits that stayed unused (down to the
/// minimum), no grow while runs wait for a CPU thread, and bounds widened by a control command.
/// </summary>
public sealed class AutoscalerUnitTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan IdleTime = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Work_waiting_doubles_the_concurrency_at_each_look_up_to_the_maximum()
    {
        var worker = new FakeWorker(2);
        Autoscaler scaler = New(worker, min: 2, max: 20);
        var seen = new List<int>();
        worker.Waits = true;
        for (int i = 0; i < 6; i++)
        {
            _time.Advance(Interval);
            scaler.Look();
            seen.Add(worker.Concurrency);
        }

        Assert.Equal([4, 8, 16, 20, 20, 20], seen);
    }

    [Fact]
    public void Idle_permits_shrink_the_concurrency_only_after_the_idle_time_by_half_of_them_down_to_the_minimum()
    {
        var worker = new FakeWorker(16) { Unused = 16 };
        Autoscaler scaler = New(worker, min: 2, max: 16);
        var seen = new List<int>();
        for (int i = 0; i < 20; i++)
        {
            _time.Advance(Interval);
            worker.Unused = worker.Concurrency; // nothing runs
            scaler.Look();
            seen.Add(worker.Concurrency);
        }

        // One shrink per idle window of 5 looks: 16 → 8 → 4 → 2, then it stays at the minimum.
        Assert.Equal([16, 16, 16, 16, 8, 8, 8, 8, 8, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2], seen);
    }

    [Fact]
    public void A_window_in_which_every_permit_was_used_once_does_not_shrink_and_work_waiting_restarts_the_window()
    {
        var worker = new FakeWorker(8) { Unused = 6 };
        Autoscaler scaler = New(worker, min: 1, max: 8);
        for (int i = 0; i < 4; i++)
        {
            _time.Advance(Interval);
            worker.Unused = i == 2 ? 0 : 6; // one look saw every permit busy
            scaler.Look();
        }

        _time.Advance(Interval);
        scaler.Look(); // the window (5 s) ends: the least unused was 0
        Assert.Equal(8, worker.Concurrency);

        // Work waits at the 4th look of the next window: the window starts again from there.
        for (int i = 0; i < 4; i++)
        {
            _time.Advance(Interval);
            worker.Waits = i == 3;
            scaler.Look();
        }

        worker.Waits = false;

        for (int i = 0; i < 4; i++)
        {
            _time.Advance(Interval);
            scaler.Look();
            Assert.Equal(8, worker.Concurrency);
        }

        _time.Advance(Interval);
        scaler.Look();
        Assert.Equal(5, worker.Concurrency); // 6 unused throughout: 8 − 6/2
    }

    [Fact]
    public void Runs_waiting_for_a_cpu_thread_do_not_grow_the_concurrency()
    {
        var worker = new FakeWorker(4) { Waits = true, CpuQueued = true };
        Autoscaler scaler = New(worker, min: 4, max: 64);
        for (int i = 0; i < 3; i++)
        {
            _time.Advance(Interval);
            scaler.Look();
        }

        Assert.Equal(4, worker.Concurrency);
        worker.CpuQueued = false;
        _time.Advance(Interval);
        scaler.Look();
        Assert.Equal(8, worker.Concurrency);
    }

    [Fact]
    public void A_control_grow_past_the_maximum_raises_it_and_a_shrink_below_the_minimum_lowers_it()
    {
        var worker = new FakeWorker(4);
        Autoscaler scaler = New(worker, min: 4, max: 8);
        scaler.Widen(12);
        Assert.Equal((4, 12), (scaler.Min, scaler.Max));
        scaler.Widen(2);
        Assert.Equal((2, 12), (scaler.Min, scaler.Max));

        // The autoscaler now grows to the raised maximum.
        worker.Waits = true;
        for (int i = 0; i < 3; i++)
        {
            _time.Advance(Interval);
            scaler.Look();
        }

        Assert.Equal(12, worker.Concurrency);
    }

    [Fact]
    public async Task The_loop_looks_only_when_the_clock_moves_one_interval_and_stops_when_cancelled()
    {
        var worker = new FakeWorker(1) { Waits = true };
        Autoscaler scaler = New(worker, min: 1, max: 64);
        using var stop = new CancellationTokenSource();
        Task loop = Task.Run(() => scaler.RunAsync(stop.Token));
        await Task.Delay(200);
        Assert.Equal(0, worker.Samples); // real time passed, the clock did not: no look

        // One interval at a time: each advance lets at most one look happen (the next delay starts from the look).
        int advances = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (worker.Samples < 3)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the autoscaler's loop did not look within 10 s");
            _time.Advance(Interval);
            advances++;
            await Task.Delay(20);
        }

        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(worker.Samples <= advances);
        Assert.Equal(1 << worker.Samples, worker.Concurrency); // each look found work waiting and doubled it
    }

    private Autoscaler New(FakeWorker worker, int min, int max)
        => new(worker, new AutoscaleOptions { Min = min, Max = max, Interval = Interval, IdleTime = IdleTime }, _time, NullLogger.Instance);

    private sealed class FakeWorker(int concurrency) : IAutoscaled
    {
        private int _concurrency = concurrency;
        private int _samples;

        public string Name => "fake";

        public int Concurrency => Volatile.Read(ref _concurrency);

        public int Samples => Volatile.Read(ref _samples);

        public int Unused { get; set; }

        public bool Waits { get; set; }

        public bool CpuQueued { get; set; }

        public AutoscaleSample Sample()
        {
            Interlocked.Increment(ref _samples);
            return new AutoscaleSample(Concurrency, Unused, Waits, CpuQueued);
        }

        public int ScaleTo(int target)
        {
            Volatile.Write(ref _concurrency, target);
            return target;
        }
    }
}
