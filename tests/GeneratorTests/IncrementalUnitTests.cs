using System.Collections;
using System.Reflection;
using Celeriac.Generators;
using Celeriac.GeneratorTests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Celeriac.GeneratorTests;

/// <summary>Incremental caching: which steps re-run and what they report after an edit.</summary>
public sealed class IncrementalUnitTests
{
    private const string Tasks = """
        using Celeriac;
        namespace Inc;
        public sealed record Item(string Name, int Count);
        public static partial class Jobs
        {
            [Task] public static int Add(int x, int y) => x + y;
            [Task] public static void Store(Item item) { }
        }
        """;

    [Fact]
    public void UnrelatedFileAddedLeavesOutputsCached()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks);
        CSharpCompilation next = compilation.AddSyntaxTrees(Parse("public sealed class Unrelated { public int Value { get; set; } }", "Unrelated.cs"));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        AssertAllOutputs(result, TrackingNames.TaskStubs, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertAllOutputs(result, TrackingNames.AssemblyModel, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void MethodBodyEditLeavesOutputsUnchanged()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks);
        CSharpCompilation next = Replace(compilation, Tasks.Replace("=> x + y;", "=> y + x + 0;", StringComparison.Ordinal));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        AssertAllOutputs(result, TrackingNames.TaskStubs, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertAllOutputs(result, TrackingNames.AssemblyModel, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void SignatureEditModifiesOnlyThatTask()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks);
        CSharpCompilation next = Replace(compilation, Tasks.Replace("Add(int x, int y) => x + y", "Add(int x, long y) => x + (int)y", StringComparison.Ordinal));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        List<IncrementalStepRunReason> reasons = Reasons(result, TrackingNames.TaskStubs);
        Assert.Equal(1, reasons.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.All(reasons.Where(r => r != IncrementalStepRunReason.Modified), r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, r.ToString()));
    }

    [Fact]
    public void NewTaskIsTheOnlyNewItem()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks);
        CSharpCompilation next = compilation.AddSyntaxTrees(Parse("""
            using Celeriac;
            namespace Inc;
            public static partial class Jobs
            {
                [Task] public static int Sub(int x, int y) => x - y;
            }
            """, "Jobs.Sub.cs"));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        List<IncrementalStepRunReason> reasons = Reasons(result, TrackingNames.TaskStubs);
        Assert.True(reasons.Count == 3, string.Join(", ", reasons));
        Assert.Equal(1, reasons.Count(r => r == IncrementalStepRunReason.New));
        Assert.Equal(2, reasons.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
    }

    private const string Routes = """
        using Celeriac;
        [assembly: TaskQueue("math")]
        [assembly: TaskQueue("store")]
        [assembly: TaskRoute("Inc.Jobs.Add", Queue = "math")]
        [assembly: TaskRoute("Inc.Jobs.S*", Queue = "store")]
        """;

    [Fact]
    public void RouteEditModifiesRouteOutputsAndOnlyTheReroutedTask()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks, Routes);
        SyntaxTree old = compilation.SyntaxTrees.Single(t => t.FilePath == "Source2.cs");
        CSharpCompilation next = compilation.ReplaceSyntaxTree(old, Parse(Routes.Replace("\"Inc.Jobs.Add\", Queue = \"math\"", "\"Inc.Jobs.Add\", Queue = \"store\"", StringComparison.Ordinal), "Source2.cs"));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        Assert.Equal([IncrementalStepRunReason.Modified], Reasons(result, TrackingNames.RouteDeclarations));
        Assert.Equal([IncrementalStepRunReason.Modified], Reasons(result, TrackingNames.RouteTable));
        List<IncrementalStepRunReason> routed = Reasons(result, TrackingNames.RoutedTasks);
        Assert.Equal(1, routed.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, routed.Count(r => r == IncrementalStepRunReason.Unchanged));
        AssertAllOutputs(result, TrackingNames.TaskStubs, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void MovingARouteDeclarationLeavesGeneratedCodeCached()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks, Routes);
        SyntaxTree old = compilation.SyntaxTrees.Single(t => t.FilePath == "Source2.cs");
        CSharpCompilation next = compilation.ReplaceSyntaxTree(old, Parse("// a comment that moves every declaration\n" + Routes, "Source2.cs"));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        Assert.Equal([IncrementalStepRunReason.Modified], Reasons(result, TrackingNames.RouteDeclarations));
        AssertAllOutputs(result, TrackingNames.RouteTable, IncrementalStepRunReason.Unchanged);
        AssertAllOutputs(result, TrackingNames.RoutedTasks, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertAllOutputs(result, TrackingNames.AssemblyModel, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void UnrelatedFileLeavesRoutingCached()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks, Routes);
        CSharpCompilation next = compilation.AddSyntaxTrees(Parse("public sealed class Unrelated { }", "Unrelated.cs"));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        AssertAllOutputs(result, TrackingNames.RouteTable, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertAllOutputs(result, TrackingNames.RoutedTasks, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        AssertAllOutputs(result, TrackingNames.AssemblyModel, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void NewTaskIsTheOnlyNewRoutedItem()
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = FirstRun(Tasks, Routes);
        CSharpCompilation next = compilation.AddSyntaxTrees(Parse("""
            using Celeriac;
            namespace Inc;
            public static partial class Jobs { [Task] public static int Sub(int x, int y) => x - y; }
            """, "Jobs.Sub.cs"));

        GeneratorRunResult result = driver.RunGenerators(next).GetRunResult().Results.Single();

        List<IncrementalStepRunReason> routed = Reasons(result, TrackingNames.RoutedTasks);
        Assert.Equal(1, routed.Count(r => r == IncrementalStepRunReason.New));
        Assert.Equal(2, routed.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
    }

    [Fact]
    public void CompilationsAreNotRetainedByTheDriver()
    {
        (GeneratorDriver driver, WeakReference first) = RunAndForget();
        for (int i = 0; i < 5 && first.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        GC.KeepAlive(driver);
        Assert.False(first.IsAlive, "The generator keeps the first compilation alive through its models.");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (GeneratorDriver Driver, WeakReference First) RunAndForget()
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation([Tasks, Routes]);
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        CSharpCompilation next = compilation.AddSyntaxTrees(Parse("public sealed class Later { }", "Later.cs"));
        driver = driver.RunGenerators(next);
        return (driver, new WeakReference(compilation));
    }

    [Fact]
    public void IdenticalCompilationsGiveEqualModels()
    {
        GeneratorRun first = GeneratorHarness.Run(Tasks);
        GeneratorRun second = GeneratorHarness.Run(Tasks);

        List<object> a = Values(first.Result.Results.Single(), TrackingNames.ParsedTasks);
        List<object> b = Values(second.Result.Results.Single(), TrackingNames.ParsedTasks);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i], b[i]);
            Assert.Equal(a[i].GetHashCode(), b[i].GetHashCode());
        }

        Assert.Equal(first.AllSources(), second.AllSources());
    }

    [Fact]
    public void ModelsHoldNoSymbolsSyntaxOrLocations()
    {
        GeneratorRun run = GeneratorHarness.Run(TestSources.Shape, TestSources.Payloads, TestSources.Routing.Replace("namespace Samples.Routing;", "namespace Samples.Routing2;", StringComparison.Ordinal));
        GeneratorRunResult result = run.Result.Results.Single();
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (string step in new[] { TrackingNames.ParsedTasks, TrackingNames.TaskStubs, TrackingNames.RegistryItems, TrackingNames.AssemblyModel, TrackingNames.CompilationFacts, TrackingNames.RoutingDeclarations, TrackingNames.RouteTable, TrackingNames.RoutedTasks })
        {
            foreach (object value in Values(result, step))
            {
                Walk(value, step, visited);
            }
        }

        Assert.NotEmpty(visited);
    }

    private static void Walk(object? value, string path, HashSet<object> visited)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum)
        {
            return;
        }

        Assert.False(value is ISymbol, path + " holds an ISymbol");
        Assert.False(value is Compilation, path + " holds a Compilation");
        Assert.False(value is SyntaxNode, path + " holds a SyntaxNode");
        Assert.False(value is SyntaxTree, path + " holds a SyntaxTree");
        Assert.False(value is SemanticModel, path + " holds a SemanticModel");
        Assert.False(value is Location, path + " holds a Location");
        if (value is DiagnosticDescriptor || value is Microsoft.CodeAnalysis.Text.TextSpan || value is Microsoft.CodeAnalysis.Text.LinePositionSpan)
        {
            return;
        }

        if (!value.GetType().IsValueType && !visited.Add(value))
        {
            return;
        }

        if (value is IEnumerable enumerable)
        {
            int i = 0;
            foreach (object? item in enumerable)
            {
                Walk(item, path + "[" + i++ + "]", visited);
            }

            return;
        }

        foreach (FieldInfo field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            Walk(field.GetValue(value), path + "." + field.Name, visited);
        }
    }

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun(params string[] sources)
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(sources);
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        return (driver, compilation);
    }

    private static SyntaxTree Parse(string source, string path) => CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions, path);

    private static CSharpCompilation Replace(CSharpCompilation compilation, string newSource)
    {
        SyntaxTree old = compilation.SyntaxTrees.Single(t => t.FilePath == "Source1.cs");
        return compilation.ReplaceSyntaxTree(old, Parse(newSource, "Source1.cs"));
    }

    private static List<IncrementalStepRunReason> Reasons(GeneratorRunResult result, string step)
        => result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();

    private static List<object> Values(GeneratorRunResult result, string step)
        => result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Value).ToList();

    private static void AssertAllOutputs(GeneratorRunResult result, string step, params IncrementalStepRunReason[] allowed)
    {
        List<IncrementalStepRunReason> reasons = Reasons(result, step);
        Assert.NotEmpty(reasons);
        Assert.All(reasons, r => Assert.Contains(r, allowed));
    }
}
