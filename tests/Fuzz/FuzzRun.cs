using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.Fuzz;

/// <summary>One fuzz run: a worker process, batches of injected messages, the invariant checks and the report.</summary>
internal sealed class FuzzRun(FuzzOptions o) : IAsyncDisposable
{
    /// <summary>The most characters a stored dead-letter reason may have (reason code, ": ", a detail of at most 1,024).</summary>
    private const int MaxReasonChars = 1100;

    /// <summary>The most bytes of a result record written for a refused message (its quoted name and reason).</summary>
    private const int MaxRefusalRecordBytes = 4096;

    private static readonly string[] Documented = ["undecodable", "unsupported-version", "oversized", "unknown-task", "undecodable-args", "redelivery-limit", "failed", "corrupt", "unrunnable"];
    private readonly Dictionary<string, Dictionary<string, int>> _outcomes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _tried = new(StringComparer.Ordinal);
    private readonly List<string> _violations = [];
    private readonly Dictionary<string, int> _violationsByInvariant = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _violationsByKind = new(StringComparer.Ordinal);
    private readonly string _prefix = $"fuzz-{o.Seed}-{Guid.NewGuid():N}"[..24];
    private ConnectionMultiplexer? _redis;
    private WorkerProc? _worker;
    private CeleriacClient? _client;
    private long _validSent;
    private long _longLinesSeen;
    private int _reproducers;

    public async Task<int> RunAsync()
    {
        Directory.CreateDirectory(o.Out);
        ConfigurationOptions redisOptions = ConfigurationOptions.Parse(o.Redis);
        redisOptions.AsyncTimeout = redisOptions.SyncTimeout = 60_000; // batches of large messages take a while to write
        _redis = await ConnectionMultiplexer.ConnectAsync(redisOptions);
        IDatabase db = _redis.GetDatabase();
        _worker = await WorkerProc.StartAsync(o, _prefix);
        _client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = o.Redis, KeyPrefix = _prefix, MaxMessageBytes = o.MaxMessageBytes, MaxMessageElements = o.MaxMessageElements });

        // Warm up with valid tasks at full speed: the baseline is the worker's peak under valid load (its own buffers and
        // the GC's working room, with small refused messages among them: exceptions and log lines), and the bound adds what hostile input may add on top: the formula of docs/reliability.md
        // §8, twice (under sustained load the GC collects lazily, so about one more formula's worth can be garbage).
        await Task.WhenAll((await Calc.AddTask.DelayManyAsync(_client, [.. Enumerable.Range(0, 5000).Select(i => (i, 1))])).Select(h => h.GetAsync(TimeSpan.FromSeconds(60))));
        var rng = new Random(o.Seed);
        var factory = new InputFactory(rng, o.MaxMessageBytes, o.MaxMessageElements, o.Seed.ToString(CultureInfo.InvariantCulture));
        HashSet<string> small = ["valid", "random-bytes", "truncated", "wrong-shape", "record-members"];
        for (int warm = 0; warm < 3; warm++)
        {
            await RunBatchAsync(db, [.. Enumerable.Range(0, o.Batch).Select(_ => factory.Next(small))], factory, -1 - warm, record: false);
        }

        long baselineKb = _worker.PeakKb();
        int prefetch = o.Concurrency;
        long boundKb = baselineKb + (o.MemorySlackMb * 1024L)
            + (2 * ((2L * prefetch * o.MaxMessageBytes) + (o.Concurrency * ((3L * o.MaxMessageBytes) + (64L * o.MaxMessageElements))))) / 1024;
        Console.WriteLine($"celeriac-fuzz seed {o.Seed}: worker pid {_worker.Id}, concurrency {o.Concurrency}, visibility {o.VisibilityMs} ms, MaxMessageBytes {o.MaxMessageBytes}, MaxMessageElements {o.MaxMessageElements}");
        Console.WriteLine($"memory bound: baseline under valid load {baselineKb:N0} kB + {o.MemorySlackMb} MB drift + 2 × (2·P·M + C·(3·M + 64·E)) = {boundKb:N0} kB; settle deadline per batch: {o.VisibilityMs} ms + {o.PerMessageMs} ms per message, extended while the batch makes progress (at most one visibility timeout without any)");

        var clock = Stopwatch.StartNew();
        long injected = 0;
        long peakKb = baselineKb;
        int batchNumber = 0;
        TimeSpan lastProgress = TimeSpan.Zero;
        if (o.Replay.Count > 0)
        {
            List<Input> replayed = [.. o.Replay.SelectMany(Reproducer.Load)];
            Console.WriteLine($"replaying {replayed.Count} messages from {o.Replay.Count} files");
            await RunBatchAsync(db, replayed, factory, batchNumber);
            injected = replayed.Count;
        }
        else
        {
            while (injected < o.Messages && (o.Minutes <= 0 || clock.Elapsed.TotalMinutes < o.Minutes))
            {
                int n = (int)Math.Min(o.Batch, o.Messages - injected);
                var batch = new List<Input>(n + 16);
                for (int i = 0; i < n; i++)
                {
                    Input input = factory.Next(o.Categories);
                    batch.Add(input);
                    if (input.Category == "corrupt-hash")
                    {
                        batch.Add(factory.ValidIn("faults")); // a valid message for the same fetch to pop next to it
                    }
                }

                await RunBatchAsync(db, batch, factory, batchNumber++);
                injected += batch.Count;
                peakKb = Math.Max(peakKb, _worker.PeakKb());
                if (clock.Elapsed - lastProgress >= TimeSpan.FromMinutes(1))
                {
                    lastProgress = clock.Elapsed;
                    Console.WriteLine($"progress {clock.Elapsed.TotalMinutes:0} min: {injected:N0} messages, {_violations.Count} violations, worker peak {peakKb:N0} kB, resident now {_worker.ResidentKb():N0} kB");
                }
            }
        }

        peakKb = Math.Max(peakKb, _worker.PeakKb());
        if (peakKb > boundKb)
        {
            Violate("memory", null, $"peak resident memory {peakKb:N0} kB is over the bound {boundKb:N0} kB");
        }

        Report(injected, clock.Elapsed, baselineKb, peakKb, boundKb);
        return _violations.Count == 0 ? 0 : 1;
    }

    private async Task RunBatchAsync(IDatabase db, List<Input> batch, InputFactory factory, int batchNumber, bool record = true)
    {
        // Valid tasks through the client, half before and half after the injected ones.
        int validCount = Math.Max(1, batch.Count / 20);
        var valid = new List<(Task<TaskHandle<int>> Handle, int Expected)>(validCount);
        for (int i = 0; i < validCount / 2; i++)
        {
            valid.Add((Calc.AddTask.DelayAsync(_client!, i, batchNumber).AsTask(), i + batchNumber));
        }

        var started = Stopwatch.StartNew();
        await InjectAsync(db, batch);
        for (int i = validCount / 2; i < validCount; i++)
        {
            valid.Add((Calc.AddTask.DelayAsync(_client!, i, batchNumber).AsTask(), i + batchNumber));
        }

        _validSent += record ? valid.Count : 0;
        TimeSpan deadline = TimeSpan.FromMilliseconds(o.VisibilityMs + ((long)o.PerMessageMs * (batch.Count + valid.Count)));
        // Past the nominal deadline the batch is still waited for while it makes progress (the machine may be slower
        // than 5 ms a message): a message fails "settled" when a whole visibility timeout passes in which nothing of
        // its batch settled — it sat unhandled for more than one lease while the worker had nothing else of it to do.
        var outcome = new string?[batch.Count];
        int open = batch.Count;
        TimeSpan lease = TimeSpan.FromMilliseconds(o.VisibilityMs);
        TimeSpan lastProgress = TimeSpan.Zero;
        while (open > 0 && !_worker!.HasExited && (started.Elapsed < deadline || started.Elapsed - lastProgress < lease) && started.Elapsed < 10 * deadline)
        {
            await Task.Delay(50);
            int before = open;
            open = await PollAsync(db, batch, outcome);
            if (open < before)
            {
                lastProgress = started.Elapsed;
            }
        }

        TimeSpan waited = started.Elapsed;

        if (_worker!.HasExited)
        {
            string file = Reproducer.Save(o.Out, "worker-alive", "batch", batch, ref _reproducers, "the worker died during this batch:\n" + string.Join("\n", _worker.Tail));
            Violate("worker-alive", null, $"the worker died during batch {batchNumber} ({batch.Count} messages, saved in {file}); restarting it");
            _worker.Dispose();
            _worker = await WorkerProc.StartAsync(o, _prefix);
        }

        for (int i = 0; i < batch.Count; i++)
        {
            Input input = batch[i];
            string result = outcome[i] ?? await LocateAsync(db, input);
            if (record)
            {
                Count(_tried, input.Category);
                Count(Outcomes(input.Category), result);
            }

            if (outcome[i] is null)
            {
                Violate("settled", input, $"not settled: nothing of its batch settled for one visibility timeout ({o.VisibilityMs} ms) after {waited.TotalMilliseconds:0} ms (nominal {deadline.TotalMilliseconds:0} ms): {result}");
                await RemoveAsync(db, input);
            }
            else if (!input.Allowed.Contains(result) && !(input.Allowed.Length == 0 && IsDocumented(result)))
            {
                Violate("settled", input, $"ended as {result}; allowed: {string.Join(", ", input.Allowed)}");
            }
        }

        foreach ((Task<TaskHandle<int>> handle, int expected) in valid)
        {
            TimeSpan left = (waited > deadline ? waited : deadline) + lease - started.Elapsed;
            try
            {
                int value = await (await handle).GetAsync(left > TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
                if (value != expected)
                {
                    Violate("valid-on-time", null, $"a valid task returned {value}, expected {expected}");
                }
            }
            catch (Exception ex) when (ex is TimeoutException or TaskFailedException or OperationCanceledException)
            {
                Violate("valid-on-time", null, $"a valid task sent with batch {batchNumber} did not succeed within one visibility timeout after its batch settled ({started.Elapsed.TotalMilliseconds:0} ms): {ex.GetType().Name}: {ex.Message}");
            }
        }

        while (_worker.LongLines.TryDequeue(out string? line))
        {
            _longLinesSeen++;
            Violate("bounded-text", null, $"a log line over {WorkerProc.MaxLogLineChars} chars: {line}");
        }

        await ForgetAsync(db, batch, valid);
    }

    /// <summary>
    /// Deletes what a judged batch left in Redis: its dead letters (their message hashes of up to MaxMessageBytes each)
    /// and the result records of its messages and valid tasks. Without it a long run's redis-server grows by ~1 GB a
    /// minute (8 GB after 8 minutes, 1.35 million keys) until the machine runs out of memory.
    /// </summary>
    private async Task ForgetAsync(IDatabase db, List<Input> batch, List<(Task<TaskHandle<int>> Handle, int Expected)> valid)
    {
        var work = new List<Task>(batch.Count * 3);
        foreach (Input input in batch)
        {
            work.Add(db.SortedSetRemoveAsync(QueueKey(input.Queue, "dead"), input.Id));
            work.Add(db.KeyDeleteAsync(TaskKey(input)));
            work.Add(db.KeyDeleteAsync(ResultKey(input)));
        }

        foreach ((Task<TaskHandle<int>> handle, _) in valid)
        {
            if (handle.IsCompletedSuccessfully)
            {
                work.Add(db.KeyDeleteAsync(QueueKey(handle.Result.Queue ?? "default", "r:" + handle.Result.Id)));
            }
        }

        try
        {
            await Task.WhenAll(work);
        }
        catch (RedisException)
        {
            // Best effort: a key left behind costs memory, not correctness.
        }
    }

    private async Task InjectAsync(IDatabase db, List<Input> batch)
    {
        IBatch writes = db.CreateBatch();
        var tasks = new List<Task>(batch.Count * 3);
        foreach (Input input in batch)
        {
            RedisKey key = TaskKey(input);
            tasks.Add(writes.HashSetAsync(key, [.. input.Fields.Select(f => new HashEntry(f.Field, f.Value))]));
            if (input.Scheduled)
            {
                tasks.Add(writes.SortedSetAddAsync(QueueKey(input.Queue, "scheduled"), input.Id, 0));
            }
            else
            {
                tasks.Add(writes.ListLeftPushAsync(QueueKey(input.Queue, "pending"), input.Id));
            }
        }

        foreach (string queue in batch.Select(i => i.Queue).Distinct())
        {
            tasks.Add(writes.ListLeftPushAsync(QueueKey(queue, "notify"), "1"));
            tasks.Add(writes.ListTrimAsync(QueueKey(queue, "notify"), 0, 0));
        }

        writes.Execute();
        await Task.WhenAll(tasks);
    }

    /// <summary>Reads the outcome of each message not yet settled; returns how many are still open.</summary>
    private async Task<int> PollAsync(IDatabase db, List<Input> batch, string?[] outcome)
    {
        var reads = new List<(int Index, Task<RedisValue> Reason, Task<bool> Exists)>();
        IBatch pipe = db.CreateBatch();
        for (int i = 0; i < batch.Count; i++)
        {
            if (outcome[i] is null)
            {
                RedisKey key = TaskKey(batch[i]);
                reads.Add((i, pipe.HashGetAsync(key, "reason"), pipe.KeyExistsAsync(key)));
            }
        }

        pipe.Execute();
        var finished = new List<(int Index, Task<RedisValue> State, Task<long> RecordBytes)>();
        var refusals = new List<(int Index, Task<long> RecordBytes)>();
        IBatch results = db.CreateBatch();
        foreach ((int index, Task<RedisValue> reasonTask, Task<bool> existsTask) in reads)
        {
            RedisValue reason = await reasonTask;
            bool exists = await existsTask;
            if (!reason.IsNull)
            {
                outcome[index] = CheckReason(batch[index], reason.ToString());
                refusals.Add((index, results.HashStringLengthAsync(ResultKey(batch[index]), "rec")));
            }
            else if (!exists)
            {
                RedisKey result = ResultKey(batch[index]);
                finished.Add((index, results.HashGetAsync(result, "state"), results.HashStringLengthAsync(result, "rec")));
            }
        }

        results.Execute();
        foreach ((int index, Task<RedisValue> state, Task<long> bytes) in finished)
        {
            RedisValue value = await state;
            outcome[index] = value.IsNull ? "completed" : value.ToString();
            if (outcome[index] is "REVOKED" && await bytes > MaxRefusalRecordBytes)
            {
                Violate("bounded-text", batch[index], $"a REVOKED result record of {await bytes} bytes");
            }
        }

        foreach ((int index, Task<long> bytes) in refusals)
        {
            if (await bytes > MaxRefusalRecordBytes)
            {
                Violate("bounded-text", batch[index], $"the FAILURE record of a dead-lettered message is {await bytes} bytes");
            }
        }

        return outcome.Count(x => x is null);
    }

    private string CheckReason(Input input, string reason)
    {
        int colon = reason.IndexOf(':', StringComparison.Ordinal);
        string code = colon < 0 ? reason : reason[..colon];
        if (reason.Length > MaxReasonChars)
        {
            Violate("bounded-text", input, $"a dead-letter reason of {reason.Length} chars: {reason[..200]}…");
        }

        if (!Documented.Contains(code))
        {
            Violate("settled", input, $"dead-lettered with an undocumented reason: {reason[..Math.Min(200, reason.Length)]}");
        }

        return "dead:" + code;
    }

    /// <summary>Where a message that did not settle is: which list holds it, or none (lost).</summary>
    private async Task<string> LocateAsync(IDatabase db, Input input)
    {
        RedisKey key = TaskKey(input);
        HashEntry[] fields = await db.HashGetAllAsync(key);
        string state = fields.Length == 0 ? "hash gone" : "hash fields " + string.Join(",", fields.Select(f => f.Name.ToString()).Order(StringComparer.Ordinal));
        if (fields.Length == 0)
        {
            return "late: completed after the deadline";
        }

        if (await db.SortedSetScoreAsync(QueueKey(input.Queue, "dead"), input.Id) is not null)
        {
            return "late: dead-lettered after the deadline";
        }
        if (await db.SortedSetScoreAsync(QueueKey(input.Queue, "active"), input.Id) is not null)
        {
            return "leased (in active), " + state;
        }

        if (await db.SortedSetScoreAsync(QueueKey(input.Queue, "scheduled"), input.Id) is not null)
        {
            return "in scheduled, " + state;
        }

        for (int p = 0; p <= 9; p++)
        {
            RedisKey pending = p == 0 ? QueueKey(input.Queue, "pending") : QueueKey(input.Queue, "pending:" + p.ToString(CultureInfo.InvariantCulture));
            if (await db.ListPositionAsync(pending, input.Id) >= 0)
            {
                return "still pending, " + state;
            }
        }

        return "LOST: in no list, " + state;
    }

    /// <summary>Takes a message that did not settle out of every list, so that later batches are judged on their own.</summary>
    private async Task RemoveAsync(IDatabase db, Input input)
    {
        await db.SortedSetRemoveAsync(QueueKey(input.Queue, "active"), input.Id);
        await db.SortedSetRemoveAsync(QueueKey(input.Queue, "scheduled"), input.Id);
        await db.ListRemoveAsync(QueueKey(input.Queue, "pending"), input.Id);
        await db.KeyDeleteAsync(TaskKey(input));
    }

    private void Violate(string invariant, Input? input, string detail)
    {
        string file = input is null ? string.Empty : " — reproducer " + Reproducer.Save(o.Out, invariant, input.Category, [input], ref _reproducers, detail);
        string line = $"VIOLATION {invariant}{(input is null ? string.Empty : $" [{input.Category}] id {Printable(input.IdText)}")}: {detail}{file}";
        Count(_violationsByInvariant, invariant);
        Count(_violationsByKind, $"{invariant} [{input?.Category ?? "-"}] {Kind(detail)}");
        if (_violations.Count < 200)
        {
            Console.WriteLine(line);
        }

        _violations.Add(line);
    }

    private void Report(long injected, TimeSpan elapsed, long baselineKb, long peakKb, long boundKb)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"== celeriac-fuzz seed {o.Seed}: {injected:N0} messages injected and {_validSent:N0} valid tasks sent in {elapsed.TotalSeconds:0.0} s ({injected / Math.Max(0.001, elapsed.TotalSeconds):N0}/s); worker log lines {_worker!.Lines:N0}");
        text.AppendLine(CultureInfo.InvariantCulture, $"{"category",-16} {"tried",8}  outcomes");
        foreach ((string category, int tried) in _tried.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            string outcomes = string.Join(", ", Outcomes(category).OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value}"));
            text.AppendLine(CultureInfo.InvariantCulture, $"{category,-16} {tried,8}  {outcomes}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"worker peak resident memory {peakKb:N0} kB (baseline {baselineKb:N0} kB, bound {boundKb:N0} kB)");
        foreach (string invariant in (string[])["worker-alive", "settled", "valid-on-time", "memory", "bounded-text"])
        {
            int count = _violationsByInvariant.GetValueOrDefault(invariant);
            text.AppendLine(CultureInfo.InvariantCulture, $"invariant {invariant,-14} {(count == 0 ? "held" : $"BROKEN {count} times")}");
        }

        foreach ((string kind, int count) in _violationsByKind.OrderByDescending(p => p.Value))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {count,6} × {kind}");
        }

        text.AppendLine(_violations.Count == 0
            ? "fuzz: every invariant held"
            : $"fuzz: {_violations.Count} violations; {_reproducers} reproducer files in {o.Out} (run again with --replay FILE...)");
        Console.Write(text.ToString());
    }

    private Dictionary<string, int> Outcomes(string category)
    {
        if (!_outcomes.TryGetValue(category, out Dictionary<string, int>? map))
        {
            _outcomes[category] = map = new Dictionary<string, int>(StringComparer.Ordinal);
        }

        return map;
    }

    private static void Count(Dictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;

    private static bool IsDocumented(string outcome) => outcome is "SUCCESS" or "FAILURE" or "REVOKED" or "completed" || (outcome.StartsWith("dead:", StringComparison.Ordinal) && Documented.Contains(outcome[5..]));

    /// <summary>A violation's detail without what differs from message to message (ids, sizes, times), to group them.</summary>
    private static string Kind(string detail)
    {
        string kind = System.Text.RegularExpressions.Regex.Replace(detail, "[0-9][0-9,.]*", "N");
        return kind.Length > 140 ? kind[..140] + "…" : kind;
    }

    private static string Printable(string text) => text.Length > 80 ? text[..80] + "…" : text;

    private RedisKey TaskKey(Input input) => Concat(Encoding.UTF8.GetBytes(_prefix + ":{" + input.Queue + "}:t:"), input.Id);

    private RedisKey ResultKey(Input input) => Concat(Encoding.UTF8.GetBytes(_prefix + ":{" + input.Queue + "}:r:"), input.Id);

    private RedisKey QueueKey(string queue, string part) => _prefix + ":{" + queue + "}:" + part;

    private static RedisKey Concat(byte[] a, byte[] b) => (byte[])[.. a, .. b];

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }

        _worker?.Dispose();
        if (_redis is not null)
        {
            await _redis.CloseAsync();
        }
    }
}

/// <summary>Failures saved as JSON files holding the message hashes' fields (base64) and where they were written.</summary>
internal static class Reproducer
{
    public static string Save(string directory, string invariant, string category, List<Input> inputs, ref int count, string detail)
    {
        string path = Path.Combine(directory, $"{invariant}-{category}-{++count:D4}.json");
        using (FileStream file = File.Create(path))
        using (var json = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("invariant", invariant);
            json.WriteString("detail", detail.Length > 2000 ? detail[..2000] : detail);
            json.WriteStartArray("messages");
            foreach (Input input in inputs)
            {
                json.WriteStartObject();
                json.WriteString("category", input.Category);
                json.WriteString("queue", input.Queue);
                json.WriteBase64String("id", input.Id);
                json.WriteBoolean("scheduled", input.Scheduled);
                json.WriteStartArray("allowed");
                foreach (string allowed in input.Allowed)
                {
                    json.WriteStringValue(allowed);
                }

                json.WriteEndArray();
                json.WriteStartObject("fields");
                foreach ((string field, byte[] value) in input.Fields)
                {
                    json.WriteBase64String(field, value);
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return path;
    }

    public static IEnumerable<Input> Load(string path)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
        var inputs = new List<Input>();
        foreach (JsonElement message in document.RootElement.GetProperty("messages").EnumerateArray())
        {
            inputs.Add(new Input
            {
                Category = message.GetProperty("category").GetString()!,
                Queue = message.GetProperty("queue").GetString()!,
                Id = message.GetProperty("id").GetBytesFromBase64(),
                Scheduled = message.GetProperty("scheduled").GetBoolean(),
                Allowed = [.. message.GetProperty("allowed").EnumerateArray().Select(a => a.GetString()!)],
                Fields = [.. message.GetProperty("fields").EnumerateObject().Select(f => (f.Name, f.Value.GetBytesFromBase64()))],
            });
        }

        return inputs;
    }
}
