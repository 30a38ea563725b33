using Celeriac.IntegrationTests.Deployments;
using System.Buffers;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Protocol;
using Celeriac.Redis;
using Celeriac.TestTasks;
using MessagePack;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.HostileInput;

/// <summary>
/// A worker's memory is bounded by its settings whatever arrives: one hostile message at a time, written straight into
/// a queue, into a real worker process whose peak resident memory (VmHWM) is read from /proc. The bound is the formula
/// of docs/reliability.md ("Hostile input").
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or starts processes: never beside other such tests
public sealed class HostileMemoryTests(ITestOutputHelper output) : ProcessTestBase
{
    private const int Concurrency = 2;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_list_of_one_empty_list_per_byte_is_refused_within_the_memory_bound()
    {
        const int maxBytes = 16 * 1024 * 1024;
        int rows = maxBytes - 4096;
        byte[] args = ElementBomb(rows);
        await RunAsync("element-bomb", Hostile.WeighTask.Name, args, maxBytes, "undecodable-args");
    }

    [Fact]
    public async Task A_16_MiB_unknown_task_name_is_refused_within_the_memory_bound_and_quoted_briefly()
    {
        const int maxBytes = 16 * 1024 * 1024;
        string name = new('n', maxBytes - 4096);
        await RunAsync("long-name", name, [0x90], maxBytes, "unknown-task");
    }

    [Fact]
    public async Task An_oversized_message_is_refused_by_its_length_without_being_decoded()
    {
        const int maxBytes = 1024 * 1024;
        await RunAsync("oversized", Calc.AddTask.Name, [0x92, 0x01, 0x02], maxBytes, "oversized", headerEntries: 3_000_000);
    }

    private async Task RunAsync(string id, string task, byte[] args, int maxBytes, string reason, int headerEntries = 0)
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        WorkerProcess worker = await WorkerProcess.StartAsync(output, "worker", RedisFixture.Configuration, prefix, "default", Concurrency, 5000,
            "--max-message-bytes", maxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Workers.Add(worker);
        var options = new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix, MaxMessageBytes = maxBytes };
        Client = await CeleriacClient.ConnectAsync(options);
        Assert.Equal(3, await (await Calc.AddTask.DelayAsync(Client, 1, 2)).GetAsync(Bound));
        long baseline = PeakKb(worker.Id);

        byte[] message = Envelope(id, task, args, headerEntries);
        await using (var broker = new RedisBroker(redis, options, NullLogger.Instance, TimeProvider.System))
        {
            await broker.EnqueueAsync([new EnqueueItem(id, "default", message, 0)], default);
        }

        TaskFailedException? failure = null;
        try
        {
            await new TaskHandle(Client, id).WaitAsync(Bound);
        }
        catch (TaskFailedException ex)
        {
            failure = ex;
        }

        Assert.Equal(7, await (await Calc.AddTask.DelayAsync(Client, 3, 4)).GetAsync(Bound));
        long peak = PeakKb(worker.Id);
        long boundKb = MemoryBound.Kb(baseline, maxBytes, CeleriacOptions.DefaultMaxMessageElements, Concurrency, prefetch: Concurrency);
        output.WriteLine($"{id}: message {message.Length:N0} bytes (limit {maxBytes:N0}); worker VmHWM {baseline:N0} kB at start, {peak:N0} kB after; bound {boundKb:N0} kB; failure {failure?.RemoteType}: {failure?.RemoteMessage?.Length} chars");
        Assert.False(worker.HasExited, "the worker died");
        Assert.True(peak <= boundKb, $"peak resident memory {peak:N0} kB is over the bound {boundKb:N0} kB");
        Assert.NotNull(failure);
        Assert.True(failure.RemoteMessage is { Length: <= 1024 }, $"the stored reason is {failure.RemoteMessage?.Length} chars long");
        string deadReason = (string?)await redis.GetDatabase().HashGetAsync($"{prefix}:{{default}}:t:{id}", "reason") ?? string.Empty;
        output.WriteLine($"dead-letter reason ({deadReason.Length} chars): {deadReason}");
        Assert.StartsWith(reason + ": ", deadReason, StringComparison.Ordinal);
        Assert.True(deadReason.Length <= 1024, $"the dead-letter reason is {deadReason.Length} chars long");
        Assert.True(worker.Lines.All(l => l.Length <= 4096), $"a log line is {worker.Lines.Max(l => l.Length)} chars long");
    }

    private static long PeakKb(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"no VmHWM in /proc/{pid}/status");
    }

    /// <summary>Weigh's arguments: a basket whose rows are <paramref name="rows"/> empty lists, one byte each.</summary>
    private static byte[] ElementBomb(int rows)
    {
        var buffer = new ArrayBufferWriter<byte>(rows + 64);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(1);
        w.WriteArrayHeader(5);
        w.Write("label");
        w.Write(0);
        w.WriteArrayHeader(rows);
        for (int i = 0; i < rows; i++)
        {
            w.WriteArrayHeader(0);
        }

        w.WriteArrayHeader(2);
        w.Write("parcel");
        w.Write(1);
        w.WriteNil();
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Envelope(string id, string task, byte[] args, int headerEntries)
    {
        var headers = new Dictionary<string, string>(headerEntries, StringComparer.Ordinal);
        for (int i = 0; i < headerEntries; i++)
        {
            headers[i.ToString("x", System.Globalization.CultureInfo.InvariantCulture)] = string.Empty;
        }

        return EnvelopeCodec.Encode(new Envelope
        {
            Id = id,
            Task = task,
            Args = args,
            Queue = "default",
            RootId = id,
            Headers = headers,
            CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        });
    }
}

/// <summary>The documented bound on a worker's peak resident memory (docs/reliability.md, "Hostile input").</summary>
internal static class MemoryBound
{
    public static long Kb(long baselineKb, long maxMessageBytes, long maxElements, int concurrency, int prefetch)
        => baselineKb + ((2 * prefetch * maxMessageBytes) + (concurrency * ((3 * maxMessageBytes) + (64 * maxElements)))) / 1024;
}
