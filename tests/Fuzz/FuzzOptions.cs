using System.Globalization;

namespace Celeriac.Fuzz;

internal sealed record FuzzOptions
{
    public required string Redis { get; init; }
    public int Seed { get; init; } = 1;
    public long Messages { get; init; } = 20_000;
    public double Minutes { get; init; }
    public int Batch { get; init; } = 1000;
    public string Out { get; init; } = Path.Combine(Path.GetTempPath(), "celeriac-fuzz");
    public int Concurrency { get; init; } = 2;
    public int VisibilityMs { get; init; } = 3000;
    public int MaxMessageBytes { get; init; } = 256 * 1024;
    public int MaxMessageElements { get; init; } = 64 * 1024;
    public int PerMessageMs { get; init; } = 5;

    /// <summary>
    /// Room for the worker's own drift above the baseline taken after the warm-up (heap fragmentation, pooled buffers
    /// kept, and garbage the GC has not yet collected, which grows with the message rate): 8–13 MB over the formula in
    /// 5–15 minute runs at ~600 messages/s, 24 MB in the bounded run on a CI machine at 2,300 messages/s. 64 MB keeps
    /// that out of the invariant while a blow-up of the kind it is there for (332–778 MB before the fixes of
    /// docs/reliability.md §8) stays far over it.
    /// </summary>
    public int MemorySlackMb { get; init; } = 64;
    public IReadOnlyList<string> Replay { get; init; } = [];

    /// <summary>The categories to generate (all by default; <c>--only a,b</c> or <c>--skip a,b</c> narrow them).</summary>
    public IReadOnlySet<string> Categories { get; init; } = InputFactory.Categories.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);

    private static HashSet<string> SelectCategories(Dictionary<string, string> values)
    {
        var all = InputFactory.Categories.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        HashSet<string> Names(string list)
        {
            var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
            string? unknown = names.FirstOrDefault(n => !all.Contains(n));
            return unknown is null ? names : throw new ArgumentException($"unknown category '{unknown}'; the categories: {string.Join(", ", all)}");
        }

        var selected = values.TryGetValue("only", out string? only) ? Names(only) : all;
        if (values.TryGetValue("skip", out string? skip))
        {
            selected.ExceptWith(Names(skip));
        }

        return selected.Count > 0 ? selected : throw new ArgumentException("no category left to generate");
    }

    public static FuzzOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var replay = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--replay")
            {
                while (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    replay.Add(args[++i]);
                }

                continue;
            }

            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Expected --name value pairs, got '{args[i]}'.");
            }

            values[args[i][2..]] = args[++i];
        }

        int Int(string name, int fallback) => values.TryGetValue(name, out string? v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var defaults = new FuzzOptions { Redis = "" };
        return new FuzzOptions
        {
            Redis = values.TryGetValue("redis", out string? redis) ? redis : throw new ArgumentException("--redis host:port is required."),
            Seed = Int("seed", defaults.Seed),
            Messages = values.TryGetValue("messages", out string? m) ? long.Parse(m, CultureInfo.InvariantCulture) : (values.ContainsKey("minutes") ? long.MaxValue : defaults.Messages),
            Minutes = values.TryGetValue("minutes", out string? min) ? double.Parse(min, CultureInfo.InvariantCulture) : 0,
            Batch = Int("batch", defaults.Batch),
            Out = values.TryGetValue("out", out string? o) ? o : defaults.Out,
            Concurrency = Int("concurrency", defaults.Concurrency),
            VisibilityMs = Int("visibility-ms", defaults.VisibilityMs),
            MaxMessageBytes = Int("max-message-bytes", defaults.MaxMessageBytes),
            MaxMessageElements = Int("max-message-elements", defaults.MaxMessageElements),
            PerMessageMs = Int("per-message-ms", defaults.PerMessageMs),
            MemorySlackMb = Int("memory-slack-mb", defaults.MemorySlackMb),
            Replay = replay,
            Categories = SelectCategories(values),
        };
    }
}
