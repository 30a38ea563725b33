using System.Globalization;
using System.Text.Json.Nodes;

namespace Celeriac.Bench;

/// <summary>Prints the results next to the issue's targets and the peers' figures (issue #6, same machine class).</summary>
internal static class Table
{
    private static readonly (string Label, string Path, string Format, string Target, string Sidekiq, string BullMq, string Celery, string Hangfire)[] Rows =
    [
        ("single enqueue/s", "single.per_second", "N0", ">= 15,000", "5,300-6,200", "5,600-7,400", "~2,000", "~2,000"),
        ("bulk enqueue/s", "bulk.per_second", "N0", ">= 200,000", "~64,000", "~13,000", "-", "-"),
        ("drain/s (results stored)", "drain.per_second", "N0", ">= 50,000", "4,800-7,000*", "4,800-5,100", "~700", "~700"),
        ("round trip p50 (ms)", "w2.p50_ms", "N3", "<= 0.3", "0.48", "1.6", "4", "5.6"),
        ("round trip p90 (ms)", "w2.p90_ms", "N3", "", "", "", "", ""),
        ("round trip p99 (ms)", "w2.p99_ms", "N3", "<= 1", "1.3", "9.5", "10", "38"),
        ("drain: worker CPU us/task (whole)", "drain.worker_cpu_us_per_task", "N1", "<= 20", "", "", "", ""),
        ("drain: worker CPU us/task, of which kernel", "drain.worker_sys_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("drain: worker CPU us/task (steady)", "drain.steady.worker_cpu_us_per_task", "N1", "<= 20", "", "", "", ""),
        ("drain: Redis CPU us/task (whole)", "drain.redis_cpu_us_per_task", "N1", "<= 15", "", "", "", ""),
        ("drain: Redis CPU us/task, of which kernel", "drain.redis_sys_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("drain: Redis CPU us/task (steady)", "drain.steady.redis_cpu_us_per_task", "N1", "<= 15", "", "", "", ""),
        ("drain: Redis commands/task (incl. in scripts)", "drain.redis_commands_per_task", "N2", "", "", "", "", ""),
        ("drain: framework round-trip commands/task", "drain.redis_calls_per_task", "N2", "", "", "", "", ""),
        ("drain: worker alloc B/task (steady)", "drain.steady.alloc_bytes_per_task", "N0", "task's own", "", "", "", ""),
        ("drain: worker gen0 GCs per 1000 tasks", "drain.steady.gen0_per_1000_tasks", "N2", "", "", "", "", ""),
        ("drain: driver CPU us/task (same window)", "drain.driver_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("drain: worker peak RSS (MiB)", "drain.worker_peak_rss_mib", "N1", "", "", "", "", ""),
        ("single enqueue: Redis CPU us/task", "single.redis_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("single enqueue: of which Redis kernel", "single.redis_sys_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("single enqueue: client CPU us/task", "single.client_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("bulk enqueue: client CPU us/task", "bulk.client_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("bulk enqueue: Redis CPU us/task", "bulk.redis_cpu_us_per_task", "N1", "", "", "", "", ""),
        ("round trip: Redis commands/task", "w2.redis_commands_per_task", "N1", "", "", "", "", ""),
        ("round trip: framework round-trip commands/task", "w2.redis_calls_per_task", "N1", "", "", "", "", ""),
        ("probe (empty task) drain/s (steady)", "probe.steady.per_second", "N0", "", "", "", "", ""),
        ("probe: worker CPU us/task (steady)", "probe.steady.worker_cpu_us_per_task", "N1", "<= 20", "", "", "", ""),
        ("probe: worker alloc B/task (steady)", "probe.steady.alloc_bytes_per_task", "N0", "0", "", "", "", ""),
        ("probe: Redis CPU us/task (steady)", "probe.steady.redis_cpu_us_per_task", "N1", "<= 15", "", "", "", ""),
    ];

    public static void Print(JsonObject median, List<JsonObject> runs, Driver.Config cfg)
    {
        Console.WriteLine();
        Console.WriteLine($"Celeriac bench: N={cfg.N.ToString("N0", CultureInfo.InvariantCulture)} per enqueue mode ({(2 * cfg.N).ToString("N0", CultureInfo.InvariantCulture)} drained), {cfg.RoundTrips} round trips, driver ({cfg.DriverRuntime}), worker ({cfg.WorkerRuntime}) -c {cfg.Concurrency} prefetch {cfg.Prefetch}, median of {runs.Count} run(s) [min-max]");
        Console.WriteLine();
        Console.WriteLine("| metric | Celeriac | runs min-max | target | Sidekiq 6 | BullMQ | Celery 5.2 | Hangfire 1.8 |");
        Console.WriteLine("| --- | ---: | ---: | --- | --- | --- | --- | --- |");
        foreach (var row in Rows)
        {
            double m = Get(median, row.Path);
            double[] all = [.. runs.Select(r => Get(r, row.Path)).Where(d => !double.IsNaN(d))];
            string range = all.Length > 1 ? $"{Fmt(all.Min(), row.Format)}-{Fmt(all.Max(), row.Format)}" : "";
            Console.WriteLine($"| {row.Label} | {Fmt(m, row.Format)} | {range} | {row.Target} | {row.Sidekiq} | {row.BullMq} | {row.Celery} | {row.Hangfire} |");
        }

        Console.WriteLine();
        Console.WriteLine("* Sidekiq stores no results. Peer figures: issue #6 (2 cores, Redis 7.0 on loopback, 20,000 no-op tasks, one worker process).");
        Console.WriteLine($"W1 verified (completions = results = {2 * cfg.N}, nothing pending or leased): {string.Join(", ", runs.Select(r => (bool?)r["w1"]?["verified"] == true ? "yes" : "NO"))}; W2 wrong results: {string.Join(", ", runs.Select(r => (int?)r["w2"]?["wrong"] ?? -1))}");
        if (median["drain"]?["commands_per_task"] is JsonObject mix)
        {
            Console.WriteLine("drain command mix per task (median): " + string.Join(" ", mix.Select(kv => $"{kv.Key}={kv.Value}")));
        }

        if (median["single"]?["commands_per_task"] is JsonObject single)
        {
            Console.WriteLine("single enqueue command mix per task: " + string.Join(" ", single.Select(kv => $"{kv.Key}={kv.Value}")));
        }

        if (median["w2"]?["commands_per_task"] is JsonObject rt)
        {
            Console.WriteLine("round trip command mix per task: " + string.Join(" ", rt.Select(kv => $"{kv.Key}={kv.Value}")));
        }
    }

    public static double Get(JsonObject root, string path)
    {
        JsonNode? node = root;
        foreach (string part in path.Split('.'))
        {
            node = (node as JsonObject)?[part];
        }

        return node is JsonValue v && v.TryGetValue(out double d) ? d : double.NaN;
    }

    private static string Fmt(double value, string format) => double.IsNaN(value) ? "n/a" : value.ToString(format, CultureInfo.InvariantCulture);
}
