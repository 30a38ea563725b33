using System.Reflection;
using Celeriac.Generators.Parsing;
using Celeriac.GeneratorTests.Infrastructure;
using Cronos;
using static Celeriac.GeneratorTests.Infrastructure.DiagnosticExpectations;

namespace Celeriac.GeneratorTests;

/// <summary>The <c>[Periodic]</c> attribute: the emitted schedule, every diagnostic of CEL0301–CEL0308, and the cron check against Cronos.</summary>
public sealed class PeriodicUnitTests
{
    private const string Source = """
        using Celeriac;
        namespace Jobs;
        public static partial class Reports
        {
            [Task, Periodic("0 3 * * *", TimeZone = "Europe/Berlin")]
            public static Task Nightly(TaskContext ctx, CancellationToken ct) => Task.CompletedTask;

            [Task(Queue = "beat", Priority = 3), Periodic(Every = "1h30m", MissedTicks = MissedTicks.RunEach, MaxMissedRuns = 5)]
            public static void Heartbeat() { }

            [Task, Periodic("@HOURLY", MissedTicks = MissedTicks.Skip)]
            public static int Hourly() => 1;

            [Task]
            public static int NotPeriodic(int x) => x;
        }
        """;

    [Fact]
    public void Snapshot_of_periodic_tasks()
    {
        GeneratorRun run = GeneratorHarness.Run(Source);
        run.AssertCompilesCleanly();
        Snapshot.Verify("Periodic", run.AllSources());
    }

    [Fact]
    public void The_generated_registry_adds_each_parsed_schedule_to_the_catalog()
    {
        GeneratorRun run = GeneratorHarness.Run(GeneratorHarness.CreateCompilation([Source], "Periodic.Tasks"));
        run.AssertCompilesCleanly();
        Assembly assembly = GeneratorHarness.Load(run.Output, out System.Runtime.Loader.AssemblyLoadContext context);
        try
        {
            var catalog = new TaskCatalog();
            assembly.GetTypes().Single(t => t.Name == "TaskRegistry").GetMethod("Register")!.Invoke(null, [catalog]);
            Dictionary<string, PeriodicSchedule> schedules = catalog.Schedules.ToDictionary(s => s.Name);
            Assert.Equal(["Jobs.Reports.Heartbeat", "Jobs.Reports.Hourly", "Jobs.Reports.Nightly"], schedules.Keys.Order(StringComparer.Ordinal));

            PeriodicSchedule nightly = schedules["Jobs.Reports.Nightly"];
            Assert.Equal(("Jobs.Reports.Nightly", "default", "0 3 * * *", TimeSpan.Zero, "Europe/Berlin", MissedTicks.RunOnce), (nightly.TaskName, nightly.Queue, nightly.Cron, nightly.Every, nightly.TimeZone, nightly.MissedTicks));

            PeriodicSchedule heartbeat = schedules["Jobs.Reports.Heartbeat"];
            Assert.Equal(("beat", (string?)null, TimeSpan.FromMinutes(90), (string?)null, MissedTicks.RunEach, 5, 3), (heartbeat.Queue, heartbeat.Cron, heartbeat.Every, heartbeat.TimeZone, heartbeat.MissedTicks, heartbeat.MaxMissedRuns, heartbeat.Priority));

            PeriodicSchedule hourly = schedules["Jobs.Reports.Hourly"];
            Assert.Equal(("@hourly", MissedTicks.Skip), (hourly.Cron, hourly.MissedTicks)); // macros normalized
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public void CEL0301_InvalidCron()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class J
            {
                [Task, Periodic("0 25 * * *")] public static void A() { }  // CEL0301
                [Task, Periodic("* * * *")] public static void B() { }  // CEL0301
                [Task, Periodic("@fortnightly")] public static void C() { }  // CEL0301
                [Task, Periodic("0 0 5-1 * *")] public static void D() { }  // CEL0301
                [Task, Periodic("*/0 * * * *")] public static void E() { }  // CEL0301
                [Task, Periodic("0 0 ? * FOO")] public static void F() { }  // CEL0301
            }
            """, "CEL0301", "CEL0301", "CEL0301", "CEL0301", "CEL0301", "CEL0301");
        string[] messages = [.. run.GeneratorDiagnostics.Select(d => d.GetMessage())];
        Assert.Contains(messages, m => m.Contains("hour field '25'", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("has 4 fields", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("not a known macro", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("runs backwards", StringComparison.Ordinal));
    }

    [Fact]
    public void CEL0302_UnknownTimeZone()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class J
            {
                [Task, Periodic("0 3 * * *", TimeZone = "europe/berlin")] public static void A() { }  // CEL0302
                [Task, Periodic("0 3 * * *", TimeZone = "W. Europe Standard Time")] public static void B() { }  // CEL0302
                [Task, Periodic("0 3 * * *", TimeZone = "America/New_York")] public static void Ok() { }
            }
            """, "CEL0302", "CEL0302");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage().Contains("did you mean 'Europe/Berlin'", StringComparison.Ordinal));
    }

    [Fact]
    public void CEL0303_PeriodicTaskHasArguments()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class J
            {
                [Task, Periodic("0 9 1 * *")] public static void Invoice(string customer, TaskContext ctx) { }  // CEL0303
                [Task, Periodic("0 9 1 * *")] public static void InvoiceAll(TaskContext ctx, CancellationToken ct) { }
            }
            """, "CEL0303");
        Assert.Contains("'customer'", run.GeneratorDiagnostics.Single().GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void CEL0304_NeitherOrBothKinds()
        => Expect("""
            using Celeriac;
            public static partial class J
            {
                [Task, Periodic] public static void A() { }  // CEL0304
                [Task, Periodic("* * * * *", Every = "1m")] public static void B() { }  // CEL0304
            }
            """, "CEL0304", "CEL0304");

    [Fact]
    public void CEL0305_InvalidInterval()
        => Expect("""
            using Celeriac;
            public static partial class J
            {
                [Task, Periodic(Every = "30 seconds")] public static void A() { }  // CEL0305
                [Task, Periodic(Every = "500ms")] public static void B() { }  // CEL0305
                [Task, Periodic(Every = "400d")] public static void C() { }  // CEL0305
                [Task, Periodic(Every = "")] public static void D() { }  // CEL0305
                [Task, Periodic(Every = "1s500ms")] public static void Ok() { }
            }
            """, "CEL0305", "CEL0305", "CEL0305", "CEL0305");

    [Fact]
    public void CEL0306_TimeZoneWithInterval()
        => Expect("""
            using Celeriac;
            public static partial class J { [Task, Periodic(Every = "1h", TimeZone = "Europe/Berlin")] public static void A() { } }  // CEL0306
            """, "CEL0306");

    [Fact]
    public void CEL0307_MaxMissedRunsOutOfRange()
        => Expect("""
            using Celeriac;
            public static partial class J
            {
                [Task, Periodic(Every = "1m", MaxMissedRuns = 0)] public static void A() { }  // CEL0307
                [Task, Periodic(Every = "1m", MaxMissedRuns = 1001)] public static void B() { }  // CEL0307
            }
            """, "CEL0307", "CEL0307");

    [Fact]
    public void CEL0308_UnknownMissedTicks()
        => Expect("""
            using Celeriac;
            public static partial class J { [Task, Periodic(Every = "1m", MissedTicks = (MissedTicks)7)] public static void A() { } }  // CEL0308
            """, "CEL0308");

    [Fact]
    public void CEL0309_PeriodicWithoutTask()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class J
            {
                [Periodic("0 3 * * *")] public static void Forgotten() { }  // CEL0309
                [Task, Periodic("0 3 * * *")] public static void Fine() { }
            }
            """, "CEL0309");
        Assert.Contains("'J.Forgotten'", run.GeneratorDiagnostics.Single().GetMessage(), StringComparison.Ordinal);
    }

    public static TheoryData<string> CronCorpus() =>
    [
        "* * * * *", "0 3 * * *", "*/15 * * * *", "0 0 1 * *", "0 9 1 * MON-FRI", "0 0 L * *", "0 0 LW * *", "0 0 L-3 * *",
        "0 0 15W * *", "0 0 ? * 5L", "0 0 ? * FRI#3", "30 2 * * *", "0 0 29 2 *", "0,30 8-18/2 * JAN,JUL SUN", "5 4 * * 7",
        "*/5 * * * * *", "0 0 3 * * *", "59 59 23 31 12 *", "0 0 * * * ?", "@hourly", "@daily", "@midnight", "@weekly",
        "@monthly", "@yearly", "@annually", "@every_minute", "@every_second", "1-5/2 * * * *", "0 0 1-31/10 * *",
        // refused
        "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "? * * * *",
        "0 0 L-31 * *", "0 0 ? * 6#6", "0 0 32W * *", "@fortnightly", "* * * *", "* * * * * * *", "1,,2 * * * *", "a * * * *",
    ];

    [Theory]
    [MemberData(nameof(CronCorpus))]
    public void An_expression_the_generator_accepts_is_accepted_by_Cronos(string expression)
    {
        string? normalized = CronSyntax.Normalize(expression, out string? error);
        bool cronosAccepts;
        try
        {
            int fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            CronExpression.Parse(expression, expression.Equals("@every_second", StringComparison.OrdinalIgnoreCase) || fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
            cronosAccepts = true;
        }
        catch (CronFormatException)
        {
            cronosAccepts = false;
        }

        if (normalized is not null)
        {
            Assert.True(cronosAccepts, $"the generator accepts '{expression}' but Cronos refuses it");
        }
        else
        {
            Assert.False(string.IsNullOrEmpty(error));
        }
    }

    [Fact]
    public void The_time_zone_list_holds_the_zones_the_runtime_resolves()
    {
        foreach (string id in new[] { "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC", "Etc/UTC" })
        {
            Assert.Contains(id, TimeZoneIds.All);
            Assert.NotNull(TimeZoneInfo.FindSystemTimeZoneById(id));
        }
    }
}
