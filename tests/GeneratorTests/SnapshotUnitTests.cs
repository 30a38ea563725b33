using Celeriac.GeneratorTests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Celeriac.GeneratorTests;

public sealed class SnapshotUnitTests
{
    [Fact]
    public void Shape() => VerifyAndCompile(nameof(Shape), TestSources.Shape);

    [Fact]
    public void InstanceAsync() => VerifyAndCompile(nameof(InstanceAsync), TestSources.InstanceAsync);

    [Fact]
    public void Returns() => VerifyAndCompile(nameof(Returns), TestSources.Returns);

    [Fact]
    public void Payloads() => VerifyAndCompile(nameof(Payloads), TestSources.Payloads);

    [Fact]
    public void Edges() => VerifyAndCompile(nameof(Edges), TestSources.Edges);

    [Fact]
    public void Policy() => VerifyAndCompile(nameof(Policy), TestSources.Policy);

    [Fact]
    public void DocumentationModeWithWarningsAsErrorsCompilesCleanly()
    {
        const string source = """
            using Celeriac;
            namespace Documented;

            /// <summary>A payload.</summary>
            /// <param name="Text">The text.</param>
            public sealed record Note(string Text);

            /// <summary>Tasks.</summary>
            public static partial class NoteTasks
            {
                /// <summary>Echoes a note.</summary>
                /// <param name="note">The note.</param>
                /// <returns>The note.</returns>
                [Task] public static Note Echo(Note note) => note;
            }
            """;
        var parseOptions = new CSharpParseOptions(LanguageVersion.Latest, DocumentationMode.Diagnose);
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation([source], "Documented", parseOptions: parseOptions, warningsAsErrors: true);
        GeneratorRun run = GeneratorHarness.Run(compilation);
        Assert.Equal(2, run.Sources.Count);
        run.AssertCompilesCleanly();
    }

    [Fact]
    public void NoCeleriacReferenceEmitsNothing()
    {
        // A look-alike attribute in a compilation without Celeriac.Abstractions.
        const string source = """
            namespace Celeriac { public sealed class TaskAttribute : System.Attribute { } }
            public static partial class T { [Celeriac.Task] public static int A() => 1; }
            """;
        var compilation = CSharpCompilation.Create(
            "NoCeleriac",
            [CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions)],
            GeneratorHarness.DefaultReferences.Where(r => r.Display?.Contains("Celeriac", StringComparison.Ordinal) != true),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        GeneratorRun run = GeneratorHarness.Run(compilation);
        Assert.Empty(run.Sources);
        Assert.Empty(run.GeneratorDiagnostics);
    }

    [Fact]
    public void AssemblyWithoutTasksEmitsNothing()
    {
        GeneratorRun run = GeneratorHarness.Run("public sealed class Plain { }");
        Assert.Empty(run.Sources);
    }

    [Fact]
    public void HintNamesOfTypesThatSanitizeAlikeDiffer()
    {
        // A.B_C and A_B.C both flatten to A_B_C with a naive sanitizer.
        const string source = """
            using Celeriac;
            namespace A { public static partial class B_C { [Task] public static void Run() { } } }
            namespace A_B { public static partial class C { [Task] public static void Run() { } } }
            """;
        GeneratorRun run = GeneratorHarness.Run(source);
        run.AssertCompilesCleanly();
        List<string> hints = run.Sources.Select(s => s.HintName).ToList();
        Assert.Equal(3, hints.Count);
        Assert.Equal(hints.Count, hints.Distinct(StringComparer.OrdinalIgnoreCase).Count());
    }

    [Fact]
    public void RegistryIsSortedByTaskName()
    {
        const string source = """
            using Celeriac;
            namespace S;
            public static partial class Z { [Task(Name = "a.first")] public static void Run() { } }
            public static partial class A { [Task(Name = "z.last")] public static void Run() { } }
            """;
        GeneratorRun run = GeneratorHarness.Run(source);
        string registry = run.Source("Celeriac_Generated");
        Assert.True(registry.IndexOf("global::S.Z.RunTask.Registration", StringComparison.Ordinal) < registry.IndexOf("global::S.A.RunTask.Registration", StringComparison.Ordinal));
    }

    private static void VerifyAndCompile(string name, string source)
    {
        GeneratorRun run = GeneratorHarness.Run(source);
        run.AssertCompilesCleanly();
        Snapshot.Verify(name, run.AllSources());
    }
}
