using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.FaultSuite;

internal static class FaultHelpers
{
    /// <summary>The states of many tasks, counted.</summary>
    public static async Task<Dictionary<TaskState, int>> CountStatesAsync(CeleriacClient client, IEnumerable<string> ids)
    {
        TaskResult[] results = await Task.WhenAll(ids.Select(id => client.GetResultAsync(id, default).AsTask()));
        return results.GroupBy(r => r.State).ToDictionary(g => g.Key, g => g.Count());
    }

    public static string Show(Dictionary<TaskState, int> counts) => string.Join(", ", counts.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"));

    /// <summary>How many ids each queue holds per structure (pending, scheduled, active, dead).</summary>
    public static async Task<string> QueueStateAsync(IDatabase db, string prefix, params string[] queues)
    {
        var parts = new List<string>();
        foreach (string q in queues)
        {
            string k = $"{prefix}:{{{q}}}:";
            parts.Add($"{q}: pending {await db.ListLengthAsync(k + "pending")}, scheduled {await db.SortedSetLengthAsync(k + "scheduled")}, active {await db.SortedSetLengthAsync(k + "active")}, dead {await db.SortedSetLengthAsync(k + "dead")}");
        }

        return string.Join("; ", parts);
    }

    public static Task<long> ActiveAsync(IDatabase db, string prefix, string queue) => db.SortedSetLengthAsync($"{prefix}:{{{queue}}}:active");

    public static Task<long> ScheduledAsync(IDatabase db, string prefix, string queue) => db.SortedSetLengthAsync($"{prefix}:{{{queue}}}:scheduled");

    public static Dictionary<string, int> CountEntries(IEnumerable<string> entries) => entries.GroupBy(e => e).ToDictionary(g => g.Key, g => g.Count());

    public static async Task<WorkerProcess> StartWorkerAsync(List<WorkerProcess> registry, ITestOutputHelper output, string name, string redis, string prefix, string queues, int concurrency, int visibilityMs, params string[] extra)
    {
        WorkerProcess worker = await WorkerProcess.StartAsync(output, name, redis, prefix, queues, concurrency, visibilityMs, extra);
        lock (registry)
        {
            registry.Add(worker);
        }

        return worker;
    }
}
