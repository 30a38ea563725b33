using System.Globalization;
using System.Text.Json.Nodes;

namespace Celeriac.Bench;

/// <summary>
/// Prints the results next to the issue's targets. No other system's figures: a comparison is made by running the peers
/// side by side on the same Redis, never by quoting figures of another day (issue #16).
/// </summary>
internal static class Table
{
    private static readonly (string Label, string Path, string Format, string Target)[] Rows =
    [
        ("single enqueue/s", "single.per_second", "N0", ">= 15,000"),
        ("bulk enqueue/s", "bulk.per_second", "N0", ">= 200,000"),
        ("drain/s (results stored)", "drain.per_second", "N0", ">= 50,000"),
        ("round trip p50 (ms)", "w2.p50_ms", "N3", "<= 0.3"),
        ("round trip p90 (ms)", "w2.p90_ms", "N3", ""),
        ("round trip p99 (ms)", "w2.p99_ms", "N3", "<= 1"),
        ("drain: worker CPU us/task (whole)", "drain.worker_cpu_us_per_task", "N1", "<= 20"),
        ("drain: worker CPU us/task, of which kernel", "drain.worker_sys_cpu_us_per_task", "N1", ""),
        ("drain: worker CPU us/task (steady)", "drain.steady.worker_cpu_us_per_task", "N1", "<= 20"),
        ("drain: Redis CPU us/task (whole)", "drain.redis_cpu_us_per_task", "N1", "<= 15"),
        ("drain: Redis CPU us/task, of which kernel", "drain.redis_sys_cpu_us_per_task", "N1", ""),
        ("drain: Redis CPU us/task (steady)", "drain.steady.redis_cpu_us_per_task", "N1", "<= 15"),
        ("drain: Redis commands/task (incl. in scripts)", "drain.redis_commands_per_task", "N2", ""),
        ("drain: framework round-trip commands/task", "drain.redis_calls_per_task", "N2", ""),
        ("drain: worker alloc B/task (steady)", "drain.steady.alloc_bytes_per_task", "N0", "task's own"),
        ("drain: worker gen0 GCs per 1000 tasks", "drain.steady.gen0_per_1000_tasks", "N2", ""),
        ("drain: driver CPU us/task (same window)", "drain.driver_cpu_us_per_task", "N1", ""),
        ("drain: worker peak RSS (MiB)", "drain.worker_peak_rss_mib", "N1", ""),
        ("single enqueue: Redis CPU us/task", "single.redis_cpu_us_per_task", "N1", ""),
        ("single enqueue: of which Redis kernel", "single.redis_sys_cpu_us_per_task", "N1", ""),
        ("single enqueue: client CPU us/task", "single.client_cpu_us_per_task", "N1", ""),
        ("bulk enqueue: client CPU us/task", "bulk.client_cpu_us_per_task", "N1", ""),
        ("bulk enqueue: Redis CPU us/task", "bulk.redis_cpu_us_per_task", "N1", ""),
        ("round trip: Redis commands/task", "w2.redis_commands_per_task", "N1", ""),
        ("round trip: framework round-trip commands/task", "w2.redis_calls_per_task", "N1", ""),
        ("defaults (no options): drain/s", "defaults.per_second", "N0", ">= 80% of tuned"),
        ("defaults: worker CPU us/task", "defaults.worker_cpu_us_per_task", "N1", ""),
        ("defaults: Redis CPU us/task", "defaults.redis_cpu_us_per_task", "N1", ""),
        ("defaults: Redis commands/task", "defaults.redis_commands_per_task", "N2", ""),
        ("defaults: round trip p50 (ms)", "defaults.p50_ms", "N3", "<= 1.2x tuned"),
        ("defaults: round trip p99 (ms)", "defaults.p99_ms", "N3", ""),
        ("probe (empty task) drain/s (steady)", "probe.steady.per_second", "N0", ""),
        ("probe: worker CPU us/task (steady)", "probe.steady.worker_cpu_us_per_task", "N1", "<= 20"),
        ("probe: worker alloc B/task (steady)", "probe.steady.alloc_bytes_per_task", "N0", "0"),
        ("probe: Redis CPU us/task (steady)", "probe.steady.redis_cpu_us_per_task", "N1", "<= 15"),
    ];

    public static void Print(JsonObject median, List<JsonObject> runs, Driver.Config cfg)
    {
        Console.WriteLine();
        Console.WriteLine($"Celeriac bench: N={cfg.N.ToString("N0", CultureInfo.InvariantCulture)} per enqueue mode ({(2 * cfg.N).ToString("N0", CultureInfo.InvariantCulture)} drained), {cfg.RoundTrips} round trips, driver ({cfg.DriverRuntime}), worker ({cfg.WorkerRuntime}) -c {cfg.Concurrency} prefetch {cfg.Prefetch}, median of {runs.Count} run(s) [min-max]");
        Console.WriteLine();
        Console.WriteLine("| metric | Celeriac | runs min-max | target |");
        Console.WriteLine("| --- | ---: | ---: | --- |");
        foreach (var row in Rows)
        {
            double m = Get(median, row.Path);
            double[] all = [.. runs.Select(r => Get(r, row.Path)).Where(d => !double.IsNaN(d))];
            string range = all.Length > 1 ? $"{Fmt(all.Min(), row.Format)}-{Fmt(all.Max(), row.Format)}" : "";
            Console.WriteLine($"| {row.Label} | {Fmt(m, row.Format)} | {range} | {row.Target} |");
        }

        Console.WriteLine();
        Console.WriteLine($"Tuned rows: worker -c {cfg.Concurrency} prefetch {cfg.Prefetch}; defaults rows: a worker given no options (the WorkerOptions defaults of the runtime measured), same Redis, same run.");
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
