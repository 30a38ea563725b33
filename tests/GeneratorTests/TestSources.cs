namespace Celeriac.GeneratorTests;

/// <summary>Representative task sources shared by the tests.</summary>
public static class TestSources
{
    /// <summary>docs/design/generated-shape.user.cs.txt.</summary>
    public const string Shape = """
        using Celeriac;
        namespace Samples.Tasks;

        public enum Urgency { Low, High }
        public sealed record Letter(string To, string Subject, IReadOnlyList<string> Lines, Urgency Urgency, int? Copies);
        public interface IMailer { Task<bool> SendAsync(Letter letter, CancellationToken ct); }

        public static partial class MathTasks
        {
            [Task] public static int Add(int x, int y) => x + y;
            [Task(Name = "math.log")] public static void Log(string message) { }
        }

        public sealed partial class MailTasks(IMailer mailer)
        {
            [Task(Queue = "mail")] public async Task<bool> Send(Letter letter, TaskContext ctx, CancellationToken ct) => await mailer.SendAsync(letter, ct);
        }
        """;

    public const string InstanceAsync = """
        using Celeriac;
        namespace Samples.Billing;

        public sealed record Order(Guid Id, decimal Amount, string? Note);
        public sealed record Receipt(Guid OrderId, DateTimeOffset ChargedAt);

        public interface IPayments { ValueTask<Receipt> ChargeAsync(Order order, CancellationToken ct); }

        public partial class Billing(IPayments payments)
        {
            [Task(Queue = "billing", MaxRetries = 5, Priority = 3)]
            public async ValueTask<Receipt> Charge(Order order, CancellationToken ct) => await payments.ChargeAsync(order, ct);

            [Task]
            public Task Refund(Guid orderId, TaskContext context) => Task.CompletedTask;
        }
        """;

    public const string Returns = """
        using Celeriac;
        namespace Samples.Returns;

        public static partial class Returns
        {
            [Task] public static void Nothing() { }
            [Task] public static Task AsTask(string name) => Task.CompletedTask;
            [Task] public static ValueTask AsValueTask(long id) => default;
            [Task] public static Task<string?> MaybeName(int id) => Task.FromResult<string?>(null);
            [Task] public static ValueTask<double> Half(double value) => new(value / 2);
            [Task] public static async Task<int> Slow(int value, CancellationToken cancellationToken) { await Task.Delay(1, cancellationToken); return value; }
            [Task] public static byte[] Bytes(byte[] input) => input;
        }
        """;

    public const string Payloads = """
        using Celeriac;
        namespace Samples.Payloads;

        public enum Color : byte { Red, Green }
        [Flags] public enum Access : long { None = 0, Read = 1, Write = 2 }

        public record struct Point(int X, int Y);
        public struct Size { public int Width; public int Height; }

        public class Entity { public Guid Id { get; set; } }
        public sealed class Customer : Entity
        {
            public string Name { get; init; } = "";
            public required string Email { get; init; }
            public List<Customer>? Referrals { get; set; }
            public string Display => Name + " <" + Email + ">";
        }

        public sealed class Node
        {
            public Node(string label, Node? next) { Label = label; Next = next; }
            public string Label { get; }
            public Node? Next { get; }
        }

        public sealed record Shipment(
            Point[] Route,
            Dictionary<string, Point> Stops,
            IReadOnlyDictionary<Color, int> Counts,
            HashSet<string> Tags,
            IList<Size> Boxes,
            ICollection<int> Codes,
            IEnumerable<string?> Notes,
            IReadOnlyCollection<Access> Accesses,
            IDictionary<int, List<Color?>> Nested,
            Point? Origin,
            Color? Paint,
            DateTime? When,
            TimeSpan Duration,
            Uri? Link,
            Version Version,
            System.Numerics.BigInteger Big,
            char Letter,
            Customer Customer,
            Node Head);

        public static partial class Shipping
        {
            [Task] public static Shipment Ship(Shipment shipment, Point[] extra, List<int> ids, Access access, Size? size) => shipment;
        }
        """;

    public const string Edges = """
        using Celeriac;

        public static partial class Outer
        {
            internal static partial class Inner
            {
                [Task] public static int Count(string @class, int client, string options, int cancellationToken, string taskId, int Args, string Handle) => 0;
                [Task] internal static void Hidden(int value) { }
            }
        }
        """;

    public const string Policy = """
        using Celeriac;
        namespace Samples.Policy;

        public sealed class TransientException(string message) : Exception(message);
        public sealed class FatalException(string message) : Exception(message);

        public static partial class Jobs
        {
            [Task(MaxRetries = 5, RetryBackoff = "500ms", RetryBackoffMax = "1.5m", RetryJitter = false,
                  RetryOn = new[] { typeof(TransientException), typeof(TimeoutException) }, DontRetryOn = new[] { typeof(FatalException) },
                  DeadLetterOnFailure = true, TimeLimit = "1h", SoftTimeLimit = "2.5s", RateLimit = "10/m", Priority = 9)]
            public static int Everything(int x, string y) => x;

            [Task(DontRetryOn = new[] { typeof(FatalException) })]
            public static void OnlyDont() { }

            [Task(RetryOn = new[] { typeof(TransientException) }, RetryBackoff = "0s")]
            public static void OnlyRetryOn() { }

            [Task(RetryJitter = true, DeadLetterOnFailure = false, MaxRetries = 0)]
            public static void ExplicitDefaults() { }
        }
        """;

    public const string Routing = """
        using Celeriac;

        [assembly: TaskQueue("billing")]
        [assembly: TaskQueue("billing.eu")]
        [assembly: TaskQueue("mail")]
        [assembly: TaskRoute("billing.eu.*", Queue = "billing.eu")]
        [assembly: TaskRoute("billing.*", Queue = "billing")]
        [assembly: TaskRoute("mail.?end", Queue = "mail")]

        namespace Samples.Routing;

        public static partial class Jobs
        {
            [Task(Name = "billing.charge")] public static void Charge(int amount) { }
            // The specific route comes first on purpose: CEL0212 says so and is suppressed here.
            #pragma warning disable CEL0212
            [Task(Name = "billing.eu.charge")] public static void ChargeEu(int amount) { }
            #pragma warning restore CEL0212
            [Task(Name = "billing.refund", Queue = "mail")] public static void Refund(int amount) { }
            [Task(Name = "mail.send")] public static void Send(string to) { }
            [Task(Name = "report")] public static void Report() { }
        }
        """;
}
