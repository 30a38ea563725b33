using Celeriac;

namespace Celeriac.Samples.Tasks;

public enum Tier { Free, Pro, Enterprise }

public sealed record Customer(string Name, Tier Tier, int? Age, List<string> Tags);

public sealed record Invoice(string Customer, decimal Total, Dictionary<string, int> Lines, DateTimeOffset IssuedAt, Tier Tier);

public readonly record struct Point(double X, double Y);

/// <summary>Tasks of several signatures, shared by the client and worker samples (and their AOT builds).</summary>
public static partial class Shop
{
    [Task(Name = "samples.add")]
    public static long Add(long x, long y) => x + y;

    [Task(Name = "samples.invoice", Queue = "billing")]
    public static Invoice MakeInvoice(Customer customer, int[] quantities, decimal unitPrice, DateTimeOffset issuedAt)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < quantities.Length; i++)
        {
            lines[$"item-{i}"] = quantities[i];
        }

        decimal discount = customer.Tier == Tier.Enterprise ? 0.9m : 1m;
        return new Invoice(customer.Name, quantities.Sum() * unitPrice * discount, lines, issuedAt, customer.Tier);
    }

    [Task(Name = "samples.centroid")]
    public static Point? Centroid(IReadOnlyList<Point> points)
        => points.Count == 0 ? null : new Point(points.Average(p => p.X), points.Average(p => p.Y));

    [Task(Name = "samples.fail")]
    public static void Fail(string message) => throw new InvalidOperationException(message);

    [Task(Name = "samples.echo")]
    public static async Task<string?> Echo(string? text, TaskContext context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        return text is null ? null : $"{text} (retries {context.Retries})";
    }
}
