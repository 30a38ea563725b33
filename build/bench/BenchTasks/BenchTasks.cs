using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>The Redis connection the W1 task writes its completion times with (a singleton in the worker's DI).</summary>
public sealed class BenchRedis(IConnectionMultiplexer multiplexer)
{
    /// <summary>The list W1 completions are pushed to (unix µs), as the issue defines it.</summary>
    public const string DoneKey = "bench:done";

    private static long _completed;

    public IDatabase Db { get; } = multiplexer.GetDatabase();

    /// <summary>Tasks run to their end in this process (read by the worker's STAT reporter).</summary>
    public static long Completed => Interlocked.Read(ref _completed);

    public static void CountOne() => Interlocked.Increment(ref _completed);

    public static long UnixMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
}

/// <summary>W1: an instance task with an injected service; records its completion time and returns a+b.</summary>
public sealed partial class W1Tasks(BenchRedis redis)
{
    public const string QueueName = "bench-w1";

    [Task(Name = "bench.noop", Queue = QueueName)]
    public async Task<int> Noop(int a, int b)
    {
        await redis.Db.ListRightPushAsync(BenchRedis.DoneKey, BenchRedis.UnixMicros()).ConfigureAwait(false);
        BenchRedis.CountOne();
        return a + b;
    }
}

/// <summary>W2 (round trips) and the allocation probe (a task that does nothing, so every byte allocated is the framework's).</summary>
public static partial class W2Tasks
{
    public const string QueueName = "bench-w2";
    public const string EmptyQueueName = "bench-empty";

    [Task(Name = "bench.add", Queue = QueueName)]
    public static int Add(int a, int b) => a + b;

    [Task(Name = "bench.empty", Queue = EmptyQueueName)]
    public static int Empty(int a, int b)
    {
        BenchRedis.CountOne();
        return a + b;
    }

    /// <summary>Only for the formatter micro-benchmarks (a record argument); never sent by the workloads.</summary>
    [Task(Name = "bench.order", Queue = "bench-unused")]
    public static decimal PlaceOrder(Order order) => order.Total;
}

public enum OrderKind { Standard, Express }

/// <summary>A typical user payload for the formatter micro-benchmarks.</summary>
public sealed record Order(string Customer, decimal Total, int Quantity, DateTimeOffset PlacedAt, OrderKind Kind, List<string> Tags, string? Note);

/// <summary>The workflow bench (build/bench/run.sh flow): chord members and callback, chain steps.</summary>
public static partial class FlowTasks
{
    public const string QueueName = "bench-flow";

    /// <summary>A no-op chord member (and the plain drain's task): counted, returns a+b.</summary>
    [Task(Name = "bench.flow.member", Queue = QueueName)]
    public static int Member(int a, int b)
    {
        BenchRedis.CountOne();
        return a + b;
    }

    /// <summary>The chord's callback: the sum of every member's result.</summary>
    [Task(Name = "bench.flow.sum", Queue = QueueName)]
    public static long Sum(int[] values)
    {
        long sum = 0;
        foreach (int value in values)
        {
            sum += value;
        }

        return sum;
    }

    /// <summary>A chain step: its input plus one.</summary>
    [Task(Name = "bench.flow.inc", Queue = QueueName)]
    public static int Inc(int value) => value + 1;
}

/// <summary>
/// W3 and the mixed workload (build/bench/run.sh cpu, mixed): each task computes until its thread has used the given
/// CPU time (<c>CLOCK_THREAD_CPUTIME_ID</c>), so that "1 ms of CPU" is that whatever the compiler made of the loop and
/// however often the thread was preempted; run on the worker's CPU threads or on the thread pool.
/// </summary>
public static partial class CpuTasks
{
    public const string QueueName = "bench-cpu";

    private const int ClockThreadCpuTime = 3; // CLOCK_THREAD_CPUTIME_ID on Linux

    /// <summary>W3's task, on the worker's dedicated CPU threads (<see cref="TaskExecution.Cpu"/>).</summary>
    [Task(Name = "bench.cpu.spin", Queue = QueueName, Execution = TaskExecution.Cpu)]
    public static double Spin(int micros)
    {
        double x = Work(micros);
        BenchRedis.CountOne();
        return x;
    }

    /// <summary>The same computation on the thread pool (<see cref="TaskExecution.Pool"/>): to compare.</summary>
    [Task(Name = "bench.cpu.spinpool", Queue = QueueName)]
    public static double SpinOnPool(int micros)
    {
        double x = Work(micros);
        BenchRedis.CountOne();
        return x;
    }

    /// <summary>Computes (dependent floating-point steps: no allocation, no I/O) until this thread has used <paramref name="micros"/> µs of CPU.</summary>
    public static double Work(int micros)
    {
        long end = ThreadCpuNanos() + (micros * 1000L);
        double x = 1.0;
        do
        {
            for (int i = 0; i < 1000; i++)
            {
                x = (x * 1.000000001) + 1e-9;
            }
        }
        while (ThreadCpuNanos() < end);

        return x;
    }

    /// <summary>The CPU time this thread has used, in nanoseconds.</summary>
    public static long ThreadCpuNanos()
    {
        _ = ClockGetTime(ClockThreadCpuTime, out Timespec time);
        return (time.Seconds * 1_000_000_000) + time.Nanoseconds;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

#pragma warning disable SYSLIB1054 // a blittable DllImport: no marshalling to generate (LibraryImport would need unsafe code)
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec time);
#pragma warning restore SYSLIB1054
}

/// <summary>The mixed workload's I/O task: one Redis round trip from inside the task, as an I/O-bound task makes.</summary>
public sealed partial class IoTasks(BenchRedis redis)
{
    public const string QueueName = "bench-io";

    [Task(Name = "bench.io.ping", Queue = QueueName)]
    public async Task<int> Ping(int n)
    {
        _ = await redis.Db.PingAsync().ConfigureAwait(false);
        return n;
    }
}
