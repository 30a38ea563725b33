namespace Celeriac.TestTasks;

/// <summary>A record argument with a nested record, nested lists, an enum and a dictionary: the shapes hostile input aims at.</summary>
public sealed record Basket(string Label, Tier Tier, List<List<int>> Rows, Parcel Parcel, Dictionary<string, int>? Counts);

/// <summary>A nested record with a non-nullable string member.</summary>
public sealed record Parcel(string Name, int Weight);

/// <summary>Tasks over the shapes above, used by the hostile-input tests and the fuzzer (tests/Fuzz).</summary>
public static partial class Hostile
{
    /// <summary>Touches every member, so a member that arrives null where it may not fails here, inside the task.</summary>
    [Task]
    public static string Weigh(Basket basket)
        => $"{basket.Label.Length}|{basket.Tier}|{basket.Rows.Sum(r => r.Count)}|{basket.Parcel.Name.Length + basket.Parcel.Weight}|{basket.Counts?.Count ?? -1}";

    /// <summary>Echoes a string and an enum.</summary>
    [Task]
    public static string Echo(string text, Tier tier) => text.Length + ":" + tier;

    /// <summary>A task with a hard time limit (its run gets a context and a timer of its own).</summary>
    [Task(TimeLimit = "5s")]
    public static int Limited(int n) => n;
}
