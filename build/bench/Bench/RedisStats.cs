using System.Globalization;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>A snapshot of Redis <c>INFO commandstats</c> and <c>INFO cpu</c>. Commands run inside scripts are counted too.</summary>
internal sealed record RedisSnapshot(Dictionary<string, long> Calls, Dictionary<string, long> Usec, double CpuSeconds, double SysSeconds)
{
    public static async Task<RedisSnapshot> TakeAsync(IDatabase db)
    {
        string stats = (string)(await db.ExecuteAsync("INFO", "commandstats"))!;
        double cpu = await CpuAsync(db);
        double sys = await CpuAsync(db, "used_cpu_sys:");
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        var usec = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string raw in stats.Split('\n'))
        {
            string line = raw.Trim();
            if (!line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                continue;
            }

            int colon = line.IndexOf(':');
            string name = line[8..colon];
            foreach (string part in line[(colon + 1)..].Split(','))
            {
                if (part.StartsWith("calls=", StringComparison.Ordinal))
                {
                    calls[name] = long.Parse(part[6..], CultureInfo.InvariantCulture);
                }
                else if (part.StartsWith("usec=", StringComparison.Ordinal))
                {
                    usec[name] = long.Parse(part[5..], CultureInfo.InvariantCulture);
                }
            }
        }

        return new RedisSnapshot(calls, usec, cpu, sys);
    }

    /// <summary>used_cpu_sys + used_cpu_user of the redis-server process, in seconds.</summary>
    public static async Task<double> CpuAsync(IDatabase db, string? only = null)
    {
        string info = (string)(await db.ExecuteAsync("INFO", "cpu"))!;
        double sum = 0;
        foreach (string raw in info.Split('\n'))
        {
            string line = raw.Trim();
            if (only is null ? line.StartsWith("used_cpu_sys:", StringComparison.Ordinal) || line.StartsWith("used_cpu_user:", StringComparison.Ordinal) : line.StartsWith(only, StringComparison.Ordinal))
            {
                sum += double.Parse(line[(line.IndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }

    /// <summary>
    /// Redis's own time (commandstats <c>usec</c>) between two snapshots, per command name. A script call's time includes
    /// the commands it runs, which are also listed under their own names.
    /// </summary>
    public static SortedDictionary<string, long> UsecDelta(RedisSnapshot before, RedisSnapshot after) => Between(before.Usec, after.Usec);

    /// <summary>Commands between two snapshots, per name, without the driver's own INFO calls.</summary>
    public static SortedDictionary<string, long> Delta(RedisSnapshot before, RedisSnapshot after) => Between(before.Calls, after.Calls);

    /// <summary>The growth of each counter, leaving out the driver's own INFO calls.</summary>
    private static SortedDictionary<string, long> Between(Dictionary<string, long> before, Dictionary<string, long> after)
    {
        var delta = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach ((string name, long value) in after)
        {
            long d = value - before.GetValueOrDefault(name);
            if (d > 0 && name != "info")
            {
                delta[name] = d;
            }
        }

        return delta;
    }
}
