namespace Celeriac.TestTasks;

public enum Tier
{
    Bronze,
    Silver,
    Gold,
}

/// <summary>A record argument with an enum, a list and nullable members.</summary>
public sealed record Order(string Customer, Tier Tier, IReadOnlyList<int> Quantities, decimal? Discount, string? Note);

/// <summary>A record result computed from the arguments, so a test can check every member survived the round trip.</summary>
public sealed record Quote(string Customer, Tier Tier, int Items, decimal? Discount, string? Note, List<string> Tags, int? Extra);

/// <summary>A task with record, enum, list and nullable arguments returning a record.</summary>
public static partial class Shapes
{
    [Task]
    public static Quote Price(Order order, Tier bump, List<string> tags, int? extra)
        => new(order.Customer, (Tier)Math.Max((int)order.Tier, (int)bump), order.Quantities.Sum(), order.Discount, order.Note, tags, extra);
}
