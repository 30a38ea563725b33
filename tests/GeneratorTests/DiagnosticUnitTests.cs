using Celeriac.GeneratorTests.Infrastructure;
using static Celeriac.GeneratorTests.Infrastructure.DiagnosticExpectations;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Celeriac.GeneratorTests;

/// <summary>One test per diagnostic. Assertions are exhaustive: any unexpected diagnostic fails the test and is printed.</summary>
public sealed class DiagnosticUnitTests
{
    [Fact]
    public void CEL0001_ContainingTypeNotPartial()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static class NotPartial { [Task] public static void Run() { } }  // CEL0001
            """, "CEL0001");
        Assert.Contains("NotPartial", Message(run, "CEL0001"), StringComparison.Ordinal);
    }

    [Fact]
    public void CEL0001_EnclosingTypeNotPartial()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static class Outer { public static partial class Inner { [Task] public static void Run() { } } }  // CEL0001
            """, "CEL0001");
        Assert.Contains("'Outer'", Message(run, "CEL0001"), StringComparison.Ordinal);
    }

    [Fact]
    public void CEL0002_GenericMethodOrType()
        => Expect("""
            using Celeriac;
            public static partial class G { [Task] public static void Run<T>() { } }    // CEL0002
            public partial class H<T> { [Task] public static void Run() { } }           // CEL0002
            public static partial class I { [Task] public static void Run() { } }
            """, "CEL0002", "CEL0002");

    [Fact]
    public void CEL0003_RefOutInParamsParameters()
        => Expect("""
            using Celeriac;
            public static partial class P
            {
                [Task] public static void A(ref int x) { }              // CEL0003
                [Task] public static void B(out int x) { x = 0; }       // CEL0003
                [Task] public static void C(in int x) { }               // CEL0003
                [Task] public static void D(params int[] x) { }         // CEL0003
                [Task] public static void E(Span<int> x) { }            // CEL0003
                [Task] public static void F(int x) { }
            }
            """, "CEL0003", "CEL0003", "CEL0003", "CEL0003", "CEL0003");

    [Fact]
    public void CEL0004_AsyncVoidAndUnsupportedReturns()
        => Expect("""
            using Celeriac;
            public static partial class R
            {
                [Task] public static async void A() { await Task.Yield(); }     // CEL0004
                [Task] public static IAsyncEnumerable<int> B() => throw null!;  // CEL0004
                [Task] public static Task<Task> C() => throw null!;             // CEL0004
                [Task] public static Task<int> D() => throw null!;
            }
            """, "CEL0004", "CEL0004", "CEL0004");

    [Fact]
    public void CEL0005_DuplicateTaskName()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class A { [Task(Name = "same")] public static void Run() { } }
            public static partial class B { [Task(Name = "same")] public static void Go() { } }  // CEL0005
            """, "CEL0005");
        Assert.Contains("'same'", Message(run, "CEL0005"), StringComparison.Ordinal);
    }

    [Fact]
    public void CEL0006_NestedTypeNameCollides()
        => Expect("""
            using Celeriac;
            public static partial class A
            {
                [Task] public static void Run() { }  // CEL0006
                public static class RunTask { }
            }
            public static partial class B
            {
                [Task] public static void Go(int x) { }
                [Task] public static void Go(string x) { }  // CEL0006
            }
            """, "CEL0006", "CEL0006");

    [Fact]
    public void CEL0007_DuplicateInjectedParameters()
        => Expect("""
            using Celeriac;
            public static partial class I
            {
                [Task] public static void A(CancellationToken a, CancellationToken b) { }  // CEL0007
                [Task] public static void B(TaskContext a, TaskContext b) { }  // CEL0007
            }
            """, "CEL0007", "CEL0007");

    [Fact]
    public void CEL0008_InaccessibleContainingType()
        => Expect("""
            using Celeriac;
            public partial class Outer { private static partial class Hidden { [Task] public static void Run() { } } }  // CEL0008
            """, "CEL0008");

    [Fact]
    public void CEL0009_InvalidTaskName()
        => Expect("""
            using Celeriac;
            public static partial class N
            {
                [Task(Name = "has space")] public static void A() { }  // CEL0009
                [Task(Name = "")] public static void B() { }  // CEL0009
                [Task(Name = "ok.name_with-all:chars9")] public static void C() { }
            }
            """, "CEL0009", "CEL0009");

    [Fact]
    public void CEL0101_ParameterNotSerializable()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public sealed record Envelope(string Id, object Payload);
            public static partial class S
            {
                [Task] public static void A(System.IO.Stream stream) { }   // CEL0101
                [Task] public static void B(Envelope envelope) { }         // CEL0101
                [Task] public static void C(int[,] grid) { }               // CEL0101
                [Task] public static void D(int[] list) { }
            }
            """, "CEL0101", "CEL0101", "CEL0101");
        string nested = run.GeneratorDiagnostics.Select(d => d.GetMessage()).Single(m => m.Contains("envelope", StringComparison.Ordinal));
        Assert.Contains("member 'Payload' of type 'Envelope'", nested, StringComparison.Ordinal);
    }

    [Fact]
    public void CEL0101_TypeWithoutUsableConstructor()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public sealed class Sealed { public Sealed(int other) { } public int Value { get; set; } }
            public sealed class ReadOnly { public int Value { get; } = 1; }
            public static partial class S
            {
                [Task] public static void A(Sealed value) { }     // CEL0101
                [Task] public static void B(ReadOnly value) { }   // CEL0101
            }
            """, "CEL0101", "CEL0101");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage().Contains("no public constructor", StringComparison.Ordinal));
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage().Contains("member 'Value' of type 'ReadOnly' is read-only", StringComparison.Ordinal));
    }

    [Fact]
    public void CEL0102_ReturnNotSerializable()
        => Expect("""
            using Celeriac;
            public static partial class S
            {
                [Task] public static Task<System.IO.Stream> A() => throw null!;   // CEL0102
                [Task] public static object B() => throw null!;                   // CEL0102
                [Task] public static Task<string> C() => throw null!;
            }
            """, "CEL0102", "CEL0102");

    [Fact]
    public void CEL0201_InvalidDuration()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class D
            {
                [Task(RetryBackoff = "10")] public static void A() { }                  // CEL0201
                [Task(RetryBackoffMax = "5 m")] public static void B() { }              // CEL0201
                [Task(TimeLimit = "1.s")] public static void C() { }                    // CEL0201
                [Task(SoftTimeLimit = "0ms")] public static void E() { }                // CEL0201
                [Task(TimeLimit = "2d")] public static void F() { }                     // CEL0201
                [Task(RetryBackoff = "99999999999999999h")] public static void G() { }  // CEL0201
                [Task(RetryBackoff = "250ms", RetryBackoffMax = "1.25h", TimeLimit = "10s", SoftTimeLimit = "9.5s")] public static void Ok() { }
            }
            """, "CEL0201", "CEL0201", "CEL0201", "CEL0201", "CEL0201", "CEL0201");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage() == "RetryBackoff of task 'D.A' is '10', which is not a valid duration: expected a number followed by ms, s, m or h (500ms, 10s, 1.5m, 1h)");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage().Contains("'0ms'", StringComparison.Ordinal) && d.GetMessage().Contains("longer than zero", StringComparison.Ordinal));
        Assert.Contains(run.Sources, s => s.HintName.Contains("OkTask", StringComparison.Ordinal));
        Assert.DoesNotContain(run.Sources, s => s.HintName.Contains(".D_ATask", StringComparison.Ordinal));
    }

    [Fact]
    public void CEL0202_InvalidRateLimit()
        => Expect("""
            using Celeriac;
            public static partial class L
            {
                [Task(RateLimit = "10")] public static void A() { }      // CEL0202
                [Task(RateLimit = "10/d")] public static void B() { }    // CEL0202
                [Task(RateLimit = "0/s")] public static void C() { }     // CEL0202
                [Task(RateLimit = "1.5/s")] public static void D() { }   // CEL0202
                [Task(RateLimit = "/s")] public static void E() { }      // CEL0202
                [Task(RateLimit = "100/s")] public static void Ok1() { }
                [Task(RateLimit = "10/m")] public static void Ok2() { }
                [Task(RateLimit = "1000/h")] public static void Ok3() { }
            }
            """, "CEL0202", "CEL0202", "CEL0202", "CEL0202", "CEL0202");

    [Fact]
    public void CEL0203_NegativeMaxRetries()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class M { [Task(MaxRetries = -1)] public static void A() { } [Task(MaxRetries = 0)] public static void B() { } }  // CEL0203
            """, "CEL0203");
        Assert.Equal("MaxRetries of task 'M.A' is -1; use 0 (never retry) or a positive count", Message(run, "CEL0203"));
    }

    [Fact]
    public void CEL0204_PriorityOutOfRange()
        => Expect("""
            using Celeriac;
            public static partial class P
            {
                [Task(Priority = -1)] public static void A() { }  // CEL0204
                [Task(Priority = 10)] public static void B() { }  // CEL0204
                [Task(Priority = 0)] public static void C() { }
                [Task(Priority = 9)] public static void D() { }
            }
            """, "CEL0204", "CEL0204");

    [Fact]
    public void CEL0205_SoftTimeLimitNotBelowTimeLimitIsAWarningAndStillGenerates()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class T
            {
                [Task(TimeLimit = "1m", SoftTimeLimit = "60s")] public static void A() { }  // CEL0205
                [Task(TimeLimit = "1m", SoftTimeLimit = "2m")] public static void B() { }  // CEL0205
                [Task(TimeLimit = "1m", SoftTimeLimit = "59.999s")] public static void C() { }
            }
            """, "CEL0205", "CEL0205");
        Assert.All(run.GeneratorDiagnostics, d => Assert.Equal(DiagnosticSeverity.Warning, d.Severity));
        Assert.Contains(run.Sources, s => s.HintName.Contains(".T_ATask", StringComparison.Ordinal));
        Assert.Contains("SoftTimeLimit '60s' of task 'T.A' is not shorter than its TimeLimit '1m'", run.GeneratorDiagnostics[0].GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void CEL0206_RetryFilterTypeIsNotAnException()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public sealed class NotAnError { }
            public static partial class E
            {
                [Task(RetryOn = new[] { typeof(NotAnError), typeof(TimeoutException) })] public static void A() { }  // CEL0206
                [Task(DontRetryOn = new[] { typeof(string) })] public static void B() { }  // CEL0206
                [Task(RetryOn = new[] { typeof(Exception) }, DontRetryOn = new[] { typeof(ArgumentException) })] public static void C() { }
            }
            """, "CEL0206", "CEL0206");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage() == "RetryOn of task 'E.A' lists 'NotAnError', which does not derive from System.Exception");
    }

    [Fact]
    public void CEL0207_InvalidQueueName()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            [assembly: TaskQueue("has space")]  // CEL0207
            [assembly: TaskQueue("ok")]
            [assembly: TaskRoute("x.*", Queue = "{braces}")]  // CEL0207
            [assembly: TaskRoute("y.*")]  // CEL0207
            public static partial class Q
            {
                [Task(Name = "x.a", Queue = "bad/queue")] public static void A() { }  // CEL0207
                [Task(Name = "y.b", Queue = "ok")] public static void B() { }
            }
            """, "CEL0207", "CEL0207", "CEL0207", "CEL0207");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage() == "[assembly: TaskQueue] names the queue 'has space', which is invalid: only ASCII letters, digits, '.', '_', '-' and ':' are allowed");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage() == "Task 'x.a' names the queue 'bad/queue', which is invalid: only ASCII letters, digits, '.', '_', '-' and ':' are allowed");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage().Contains("set TaskRoute(..., Queue = \"...\")", StringComparison.Ordinal));
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage().Contains("'{braces}', which is invalid: '{' and '}' are not allowed", StringComparison.Ordinal));
    }

    [Fact]
    public void CEL0207_QueueNameTooLong()
        => Expect("[assembly: Celeriac.TaskQueue(\"" + new string('q', 101) + "\")]  // CEL0207", "CEL0207");

    [Fact]
    public void CEL0208_RouteToUndeclaredQueue()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            [assembly: TaskQueue("billing")]
            [assembly: TaskRoute("billing.*", Queue = "biling")]  // CEL0208
            [assembly: TaskRoute("mail.*", Queue = "default")]
            public static partial class R
            {
                [Task(Name = "billing.charge")] public static void A() { }
                [Task(Name = "mail.send")] public static void B() { }
            }
            """, "CEL0208");
        Assert.Equal("Route 'billing.*' sends tasks to queue 'biling', which is not declared; declared queues: 'billing', 'default'. Add [assembly: TaskQueue(\"biling\")] or fix the route.", Message(run, "CEL0208"));
    }

    [Fact]
    public void CEL0208_RouteWithoutAnyDeclaration()
        => Expect("""
            using Celeriac;
            [assembly: TaskRoute("billing.*", Queue = "billing")]  // CEL0208
            public static partial class R { [Task(Name = "billing.charge")] public static void A() { } }
            """, "CEL0208");

    [Fact]
    public void CEL0209_TaskQueueNotDeclared()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            [assembly: TaskQueue("billing")]
            public static partial class T
            {
                [Task(Queue = "biling")] public static void A() { }  // CEL0209
                [Task(Queue = "billing")] public static void B() { }
                [Task(Queue = "default")] public static void C() { }
            }
            """, "CEL0209");
        Assert.Equal("Task 'T.A' is sent to queue 'biling', which is not declared although the assembly declares queues ('billing', 'default'); add [assembly: TaskQueue(\"biling\")] or fix the name", Message(run, "CEL0209"));
    }

    [Fact]
    public void CEL0209_NotReportedWithoutDeclarations()
        => Expect("""
            using Celeriac;
            public static partial class T { [Task(Queue = "anything")] public static void A() { } }
            """);

    [Fact]
    public void CEL0210_InvalidRoutePattern()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            [assembly: TaskQueue("q")]
            [assembly: TaskRoute("billing.[ab]*", Queue = "q")]  // CEL0210
            [assembly: TaskRoute("re:^billing", Queue = "q")]  // CEL0210
            [assembly: TaskRoute("", Queue = "q")]  // CEL0210
            [assembly: TaskRoute("has space*", Queue = "q")]  // CEL0210
            [assembly: TaskRoute("ok.*", Queue = "q")]
            public static partial class G { [Task(Name = "ok.a")] public static void A() { } }
            """, "CEL0210", "CEL0210", "CEL0210", "CEL0210");
        Assert.Contains(run.GeneratorDiagnostics, d => d.GetMessage().Contains("character classes and regular expressions are not supported", StringComparison.Ordinal));
    }

    [Fact]
    public void CEL0211_DeadRoute()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            [assembly: TaskQueue("q")]
            [assembly: TaskRoute("Billing.*", Queue = "q")]  // CEL0211
            [assembly: TaskRoute("billing.*", Queue = "q")]
            public static partial class D { [Task(Name = "billing.charge")] public static void A() { } }
            """, "CEL0211");
        Diagnostic diagnostic = run.GeneratorDiagnostics.Single();
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
        Assert.Equal("Route 'Billing.*' (queue 'q') matches no task of this assembly (task names look like 'billing.charge')", diagnostic.GetMessage());
    }

    [Fact]
    public void CEL0212_TaskMatchedByRoutesToDifferentQueues()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            [assembly: TaskQueue("a")]
            [assembly: TaskQueue("b")]
            [assembly: TaskRoute("x.*", Queue = "a")]
            [assembly: TaskRoute("*.run", Queue = "b")]
            [assembly: TaskRoute("x.r??", Queue = "a")]
            public static partial class O
            {
                [Task(Name = "x.run")] public static void A() { }  // CEL0212
                [Task(Name = "y.run")] public static void B() { }
                [Task(Name = "x.run2", Queue = "b")] public static void C() { }
            }
            """, "CEL0212");
        Assert.Equal(DiagnosticSeverity.Warning, run.GeneratorDiagnostics.Single().Severity);
        Assert.Contains("'x.run'", Message(run, "CEL0212"), StringComparison.Ordinal);
    }

    [Fact]
    public void CEL0213_UnknownExecution()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class R
            {
                [Task(Execution = (TaskExecution)7)] public static int A(int x) => x; // CEL0213
                [Task(Execution = TaskExecution.Cpu)] public static int B(int x) => x;
                [Task(Execution = TaskExecution.Pool)] public static int C(int x) => x;
            }
            """, "CEL0213");
        Assert.Contains("'R.A'", Message(run, "CEL0213"), StringComparison.Ordinal);
        Assert.Contains(" 7,", Message(run, "CEL0213"), StringComparison.Ordinal);
        string generated = run.AllSources();
        Assert.Contains("Execution = global::Celeriac.TaskExecution.Cpu", generated, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(generated, "TaskExecution\\.Cpu"));
    }

    [Fact]
    public void CEL0010_DuplicateTaskNameAcrossReferencedAssemblies()
    {
        MetadataReference Library(string assembly) => GeneratorHarness.ToReference(GeneratorHarness.Run(GeneratorHarness.CreateCompilation(["""
            using Celeriac;
            namespace Lib;
            public static partial class Shared { [Task(Name = "shared.run")] public static void Run() { } }
            """], assembly)).Output);

        GeneratorRun run = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(["""
            using Celeriac;
            public static partial class Own { [Task(Name = "own.run")] public static void Run() { } }
            """], "App", [Library("LibA"), Library("LibB")]));
        Diagnostic diagnostic = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("CEL0010", diagnostic.Id);
        Assert.Equal(Location.None, diagnostic.Location);
        Assert.Contains("'shared.run' of 'referenced assembly 'LibB'' is already used by a task of the referenced assembly 'LibA'", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void WarningsAreSuppressibleWithPragma()
    {
        GeneratorRun run = GeneratorHarness.Run("""
            using Celeriac;
            [assembly: TaskQueue("q")]
            #pragma warning disable CEL0211
            [assembly: TaskRoute("nothing.*", Queue = "q")]
            #pragma warning restore CEL0211
            public static partial class W
            {
                #pragma warning disable CEL0205
                [Task(TimeLimit = "1s", SoftTimeLimit = "2s")] public static void A() { }
                #pragma warning restore CEL0205
                [Task(TimeLimit = "1s", SoftTimeLimit = "3s")] public static void B() { }
            }
            """);
        Assert.Equal(["CEL0205"], run.GeneratorDiagnostics.Select(d => d.Id));
        Assert.Equal(["CEL0205", "CEL0211"], run.SuppressedDiagnostics.Select(d => d.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void WarningsAreSuppressibleWithEditorConfig()
    {
        const string source = """
            using Celeriac;
            [assembly: TaskQueue("q")]
            [assembly: TaskRoute("nothing.*", Queue = "q")]
            public static partial class W { [Task(TimeLimit = "1s", SoftTimeLimit = "2s")] public static void A() { } }
            """;
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation([source]);

        // What .editorconfig's `dotnet_diagnostic.CEL0211.severity = none` and `... CEL0205.severity = error` become per file.
        var editorConfig = new EditorConfigOptions(new Dictionary<string, ReportDiagnostic>
        {
            ["CEL0211"] = ReportDiagnostic.Suppress,
            ["CEL0205"] = ReportDiagnostic.Error,
        });
        GeneratorRun run = GeneratorHarness.Run(compilation.WithOptions(compilation.Options.WithSyntaxTreeOptionsProvider(editorConfig)));
        Diagnostic diagnostic = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("CEL0205", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
    }

    private sealed class EditorConfigOptions(Dictionary<string, ReportDiagnostic> severities) : SyntaxTreeOptionsProvider
    {
        public override GeneratedKind IsGenerated(SyntaxTree tree, CancellationToken cancellationToken) => GeneratedKind.Unknown;

        public override bool TryGetDiagnosticValue(SyntaxTree tree, string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity)
            => severities.TryGetValue(diagnosticId, out severity);

        public override bool TryGetGlobalDiagnosticValue(string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity)
        {
            severity = default;
            return false;
        }
    }

    [Fact]
    public void OptionDiagnosticsPointAtTheNamedArgument()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class P
            {
                [Task(Name = "p", Priority = 12)] public static void A() { }  // CEL0204
            }
            """, "CEL0204");
        Diagnostic diagnostic = run.GeneratorDiagnostics.Single();
        string text = diagnostic.Location.SourceTree!.ToString().Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length);
        Assert.Equal("Priority = 12", text);
    }

    [Fact]
    public void MethodWithErrorEmitsNoStubButOthersStillGenerate()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static partial class Mixed
            {
                [Task] public static void Bad(ref int x) { }  // CEL0003
                [Task] public static int Good(int x) => x;
            }
            """, "CEL0003");
        Assert.Contains(run.Sources, s => s.HintName.Contains("GoodTask", StringComparison.Ordinal));
        Assert.DoesNotContain(run.Sources, s => s.HintName.Contains("BadTask", StringComparison.Ordinal));
        Assert.DoesNotContain("BadTask", run.Source("Celeriac_Generated"), StringComparison.Ordinal);
    }

    [Fact]
    public void DiagnosticsPointAtTheMethodAndCarryAHelpLink()
    {
        GeneratorRun run = Expect("""
            using Celeriac;
            public static class NotPartial { [Task] public static void Run() { } }  // CEL0001
            """, "CEL0001");
        Diagnostic diagnostic = run.GeneratorDiagnostics.Single();
        Assert.Equal(RepositoryUrl() + "/blob/main/docs/diagnostics/CEL0001.md", diagnostic.Descriptor.HelpLinkUri);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Equal("Source1.cs", diagnostic.Location.GetLineSpan().Path);
        Assert.Equal(1, diagnostic.Location.GetLineSpan().StartLinePosition.Line);
    }

    [Fact]
    public void EveryDiagnosticHasADocumentationPage()
    {
        string docs = Path.Combine(RepositoryRoot(), "docs", "diagnostics");
        string readme = File.ReadAllText(Path.Combine(docs, "README.md"));
        foreach (string id in AllIds())
        {
            string page = Path.Combine(docs, id + ".md");
            Assert.True(File.Exists(page), "Missing " + page);
            string text = File.ReadAllText(page);
            Assert.Contains("```csharp", text, StringComparison.Ordinal);
            Assert.Contains(id, readme, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EveryHelpLinkPointsAtItsPageInTheRepository()
    {
        string root = RepositoryRoot();
        string prefix = RepositoryUrl() + "/blob/main/";
        Assert.StartsWith("https://", prefix, StringComparison.Ordinal);
        var descriptors = typeof(Celeriac.Generators.TaskGenerator).Assembly
            .GetType("Celeriac.Generators.Diagnostics.DiagnosticDescriptors")!
            .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToList();
        Assert.NotEmpty(descriptors);
        foreach (DiagnosticDescriptor descriptor in descriptors)
        {
            Assert.StartsWith(prefix, descriptor.HelpLinkUri, StringComparison.Ordinal);
            string relative = descriptor.HelpLinkUri[prefix.Length..];
            Assert.Equal("docs/diagnostics/" + descriptor.Id + ".md", relative);
            Assert.True(File.Exists(Path.Combine(root, relative)), $"{descriptor.Id}'s help link {descriptor.HelpLinkUri} names no file of the repository");
        }
    }

    /// <summary>The one repository URL, as Directory.Build.props sets it.</summary>
    private static string RepositoryUrl()
    {
        string props = File.ReadAllText(Path.Combine(RepositoryRoot(), "Directory.Build.props"));
        System.Text.RegularExpressions.Match match = System.Text.RegularExpressions.Regex.Match(props, "<RepositoryUrl>([^<]+)</RepositoryUrl>");
        Assert.True(match.Success, "Directory.Build.props sets no RepositoryUrl");
        return match.Groups[1].Value.TrimEnd('/');
    }

    internal static IEnumerable<string> AllIds()
        => typeof(Celeriac.Generators.TaskGenerator).Assembly
            .GetType("Celeriac.Generators.Diagnostics.DiagnosticDescriptors")!
            .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => ((DiagnosticDescriptor)f.GetValue(null)!).Id);

    private static string RepositoryRoot() => Infrastructure.RepositoryPaths.Root;

    private static string Message(GeneratorRun run, string id) => run.GeneratorDiagnostics.Single(d => d.Id == id).GetMessage();
}
