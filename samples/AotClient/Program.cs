using System.Diagnostics;
using Celeriac;
using Celeriac.Samples.Tasks;

// A producer as a native binary: sends --count tasks of several signatures (records, collections, enums, nullables,
// decimals, dates, failures) and checks every result. Exit code 0 only when every result is what it must be.
string redis = Arg("--redis") ?? Environment.GetEnvironmentVariable("CELERIAC_REDIS") ?? "localhost:6379";
string prefix = Arg("--prefix") ?? CeleriacOptions.DefaultKeyPrefix;
int count = int.Parse(Arg("--count") ?? "1000", System.Globalization.CultureInfo.InvariantCulture);

await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = redis, KeyPrefix = prefix });
var clock = Stopwatch.StartNew();
var checks = new List<Task<string?>>(count);
var issued = new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
for (int i = 0; i < count; i++)
{
    int n = i;
    checks.Add((n % 5) switch
    {
        0 => Check(async () =>
        {
            long sum = await (await Shop.AddTask.DelayAsync(client, n, 1_000_000_000_000)).GetAsync(Timeout);
            return sum == n + 1_000_000_000_000 ? null : $"Add({n}) = {sum}";
        }),
        1 => Check(async () =>
        {
            var customer = new Customer($"c{n}", (Tier)(n % 3), n % 2 == 0 ? null : n, ["a", "b"]);
            Invoice invoice = await (await Shop.MakeInvoiceTask.DelayAsync(client, customer, [1, 2, n % 7], 2.5m, issued)).GetAsync(Timeout);
            decimal expected = (3 + n % 7) * 2.5m * (customer.Tier == Tier.Enterprise ? 0.9m : 1m);
            return invoice.Total == expected && invoice.Lines.Count == 3 && invoice.IssuedAt == issued && invoice.Tier == customer.Tier && invoice.Customer == customer.Name
                ? null : $"MakeInvoice({n}) = {invoice}";
        }),
        2 => Check(async () =>
        {
            Point[] points = n % 4 == 2 ? [] : [new Point(0, 0), new Point(n, 2)];
            Point? centroid = await (await Shop.CentroidTask.DelayAsync(client, points)).GetAsync(Timeout);
            Point? expected = points.Length == 0 ? null : new Point(n / 2.0, 1);
            return centroid == expected ? null : $"Centroid({n}) = {centroid}, expected {expected}";
        }),
        3 => Check(async () =>
        {
            TaskHandle handle = await Shop.FailTask.DelayAsync(client, $"boom {n}");
            try
            {
                await handle.WaitAsync(Timeout);
                return $"Fail({n}) succeeded";
            }
            catch (TaskFailedException failure)
            {
                return failure.RemoteType == "System.InvalidOperationException" && failure.RemoteMessage == $"boom {n}" ? null : $"Fail({n}) gave {failure.Message}";
            }
        }),
        _ => Check(async () =>
        {
            string? text = n % 10 == 4 ? null : $"echo {n}";
            string? echoed = await (await Shop.EchoTask.DelayAsync(client, text)).GetAsync(Timeout);
            return echoed == (text is null ? null : $"{text} (retries 0)") ? null : $"Echo({n}) = {echoed}";
        }),
    });
}

string?[] problems = await Task.WhenAll(checks);
int bad = problems.Count(p => p is not null);
foreach (string? problem in problems.Where(p => p is not null).Take(10))
{
    Console.WriteLine("MISMATCH " + problem);
}

Console.WriteLine($"{count - bad} of {count} tasks checked ok ({count / 5} expected failures among them) in {clock.ElapsedMilliseconds} ms");
return bad == 0 ? 0 : 1;

static async Task<string?> Check(Func<Task<string?>> check)
{
    try
    {
        return await check();
    }
    catch (Exception ex)
    {
        return ex.GetType().Name + ": " + ex.Message;
    }
}

string? Arg(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

partial class Program
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
}
