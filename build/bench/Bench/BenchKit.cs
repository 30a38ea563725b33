using System.Globalization;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>What every bench shares: an admin connection, the statistics it prints, the machine's load and a table.</summary>
internal static class BenchKit
{
    /// <summary>A connection allowed admin commands (INFO, FLUSHALL); with <paramref name="flush"/>, the server is emptied first.</summary>
    public static async Task<ConnectionMultiplexer> ConnectAdminAsync(string redis, bool flush, string? clientName = null)
    {
        ConfigurationOptions config = ConfigurationOptions.Parse(redis);
        config.AllowAdmin = true;
        if (clientName is not null)
        {
            config.ClientName = clientName;
        }

        ConnectionMultiplexer admin = await ConnectionMultiplexer.ConnectAsync(config);
        if (flush)
        {
            await admin.GetDatabase().ExecuteAsync("FLUSHALL");
        }

        return admin;
    }

    /// <summary>The nearest-rank percentile (<paramref name="p"/> in 0-100) of values sorted ascending.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        int rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>The median of the values (the upper one of an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted[sorted.Length / 2];
    }

    /// <summary>The 1, 5 and 15 minute load averages, printed beside CPU figures so a busy machine shows.</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>Prints a blank line, the caption (if any), and a Markdown table of the header and rows (cells already formatted).</summary>
    public static void PrintTable(string? caption, string[] header, IEnumerable<string[]> rows)
    {
        Console.WriteLine();
        if (!string.IsNullOrEmpty(caption))
        {
            Console.WriteLine(caption);
        }

        Console.WriteLine("| " + string.Join(" | ", header) + " |");
        Console.WriteLine("|" + string.Concat(Enumerable.Repeat(" --- |", header.Length)));
        foreach (string[] row in rows)
        {
            Console.WriteLine("| " + string.Join(" | ", row) + " |");
        }
    }

    /// <summary>A number formatted with the invariant culture.</summary>
    public static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
