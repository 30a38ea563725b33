using Celeriac.Generators.Parsing;
using Celeriac.GeneratorTests.Infrastructure;
using Microsoft.CodeAnalysis;

namespace Celeriac.GeneratorTests;

/// <summary>Queue declarations, glob routes and their compile-time resolution.</summary>
public sealed class RoutingUnitTests
{
    [Theory]
    [InlineData("billing.*", "billing.charge", true)]
    [InlineData("billing.*", "billing.", true)]
    [InlineData("billing.*", "billing", false)]
    [InlineData("billing.*", "billing.eu.charge", true)]
    [InlineData("*", "anything", true)]
    [InlineData("*.charge", "billing.eu.charge", true)]
    [InlineData("mail.?end", "mail.send", true)]
    [InlineData("mail.?end", "mail.spend", false)]
    [InlineData("a*b*c", "aXbYc", true)]
    [InlineData("a*b*c", "aXbY", false)]
    [InlineData("Billing.*", "billing.charge", false)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "exactly", false)]
    public void GlobFollowsCelerySemantics(string pattern, string name, bool expected)
        => Assert.Equal(expected, Routing.Matches(pattern, name));

    [Fact]
    public void QueuesAreResolvedAtCompileTime()
    {
        GeneratorRun run = GeneratorHarness.Run(TestSources.Routing);
        run.AssertCompilesCleanly();
        Assert.Equal("billing", QueueOf(run, "ChargeTask"));
        Assert.Equal("billing.eu", QueueOf(run, "ChargeEuTask"));     // the first matching route wins over the broader later one
        Assert.Equal("mail", QueueOf(run, "RefundTask"));             // [Task(Queue)] wins over routes
        Assert.Equal("mail", QueueOf(run, "SendTask"));
        Assert.Equal("default", QueueOf(run, "ReportTask"));

        string registry = run.Source("Celeriac_Generated");
        Assert.Contains("catalog.DeclareQueue(\"billing\");", registry, StringComparison.Ordinal);
        Assert.Contains("catalog.DeclareQueue(\"default\");", registry, StringComparison.Ordinal);
        Assert.Contains("public static readonly global::Celeriac.QueueName BillingEu = new(\"billing.eu\");", registry, StringComparison.Ordinal);
        Snapshot.Verify("Routing", registry);
    }

    [Fact]
    public void RoutesFollowDeclarationOrderAcrossFilesByPath()
    {
        // Source1.cs comes before Source2.cs: its route is first.
        GeneratorRun run = GeneratorHarness.Run(
            """
            using Celeriac;
            [assembly: TaskQueue("a")]
            [assembly: TaskRoute("x.*", Queue = "a")]
            public static partial class J { [Task(Name = "x.run")] public static void Run() { } }
            """,
            """
            using Celeriac;
            [assembly: TaskQueue("b")]
            [assembly: TaskRoute("x.r*", Queue = "b")]
            """);
        Assert.Equal("a", QueueOf(run, "RunTask"));
        Diagnostic overlap = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("Task 'x.run' matches route 'x.*' (queue 'a') and the later route 'x.r*' (queue 'b'); the first match wins, so it goes to 'a'", overlap.GetMessage());
        Assert.Equal("Source1.cs", overlap.Location.GetLineSpan().Path); // on the task, not on either route
        Assert.Equal(3, overlap.Location.GetLineSpan().StartLinePosition.Line);
    }

    [Fact]
    public void TypedQueueConstantsCompileAndUnknownOnesDoNot()
    {
        const string user = """
            using Celeriac;
            public static class Caller
            {
                public static TaskOptions Options() => new() { QueueName = Celeriac.Generated.Samples_Tasks.Queues.Billing };
            }
            """;
        GeneratorRun run = GeneratorHarness.Run(TestSources.Routing, user);
        run.AssertCompilesCleanly();

        GeneratorRun typo = GeneratorHarness.Run(TestSources.Routing, user.Replace("Queues.Billing", "Queues.Biling", StringComparison.Ordinal));
        Assert.Contains(typo.CompilationProblems(), d => d.Id == "CS0117" && d.GetMessage().Contains("Biling", StringComparison.Ordinal));
    }

    [Fact]
    public void QueueNameOverrideWritesTheStringQueue()
    {
        var options = new TaskOptions { QueueName = new QueueName("billing") };
        Assert.Equal("billing", options.Queue);
        Assert.Equal(new QueueName("billing"), options.QueueName);
        options.QueueName = null;
        Assert.Null(options.Queue);
        Assert.Throws<ArgumentException>(() => new QueueName("has space"));
        Assert.Equal("default", default(QueueName).Value);
    }

    [Fact]
    public void CatalogWithoutDeclarationsAcceptsAnyQueue()
    {
        var catalog = new TaskCatalog();
        Assert.False(catalog.HasQueueDeclarations);
        Assert.True(catalog.IsQueueDeclared("anything"));
        catalog.DeclareQueue("billing");
        Assert.Equal(["billing", "default"], catalog.DeclaredQueues);
        Assert.True(catalog.IsQueueDeclared("default"));
        Assert.False(catalog.IsQueueDeclared("mail"));
    }

    [Fact]
    public void LibraryQueuesAndNamesAreVisibleToTheApplication()
    {
        const string library = """
            using Celeriac;
            [assembly: TaskQueue("billing")]
            namespace Lib;
            public static partial class LibTasks { [Task(Name = "shared.name", Queue = "billing")] public static void Run() { } }
            """;
        GeneratorRun lib = GeneratorHarness.Run(GeneratorHarness.CreateCompilation([library], "Lib"));
        lib.AssertCompilesCleanly();
        MetadataReference reference = GeneratorHarness.ToReference(lib.Output);

        const string app = """
            using Celeriac;
            namespace App;
            public static partial class AppTasks { [Task(Name = "shared.name")] public static void Run() { } }
            public static class Caller { public static QueueName Q => Celeriac.Generated.Lib.Queues.Billing; }
            """;
        GeneratorRun application = GeneratorHarness.Run(GeneratorHarness.CreateCompilation([app], "App", [reference]));
        Diagnostic diagnostic = Assert.Single(application.GeneratorDiagnostics);
        Assert.Equal("CEL0010", diagnostic.Id);
        Assert.Equal("Task name 'shared.name' of 'AppTasks.Run' is already used by a task of the referenced assembly 'Lib'; a worker loading both cannot tell them apart, set [Task(Name = ...)] on one of them", diagnostic.GetMessage());
        Assert.Empty(application.CompilationProblems());
    }

    private static string QueueOf(GeneratorRun run, string taskClass)
    {
        string source = run.Sources.Single(s => s.HintName.Contains("_" + taskClass + ".", StringComparison.Ordinal)).SourceText.ToString();
        const string marker = "public const string Queue = \"";
        int start = source.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        return source[start..source.IndexOf('"', start)];
    }
}
