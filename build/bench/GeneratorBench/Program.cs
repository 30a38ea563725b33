using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Celeriac.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

// Times the Celeriac generator on synthetic compilations of 1, 100 and 1,000 tasks (ten tasks per class, a record
// payload per class, queue declarations and glob routes), and prints the median of several runs:
//   cold        a new driver on the compilation (what a command-line build pays)
//   body edit   the same driver after a method body edit (what an IDE keystroke pays)
//   new task    the same driver after a task is added
// Only the generator's work is timed: every compilation is created and bound (GetDiagnostics) before the clock starts.
int runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 7;
ImmutableArray<MetadataReference> references = LoadReferences();
var parseOptions = new CSharpParseOptions(LanguageVersion.Latest);

Console.WriteLine($"Celeriac generator benchmark: median of {runs} runs (after 2 warm-up runs), {Environment.ProcessorCount} cores, .NET {Environment.Version}");
Console.WriteLine($"{"tasks",6} {"files",6} {"cold ms",9} {"body edit ms",13} {"new task ms",12} {"generated KiB",14}");
foreach (int tasks in new[] { 1, 100, 1000 })
{
    CSharpCompilation compilation = CreateCompilation(tasks);
    CSharpCompilation edited = ReplaceFirst(compilation, "=> x + y;", "=> y + x;");
    CSharpCompilation withNew = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
        "using Celeriac; namespace Bench; public static partial class Extra { [Task(Name = \"billing.extra\")] public static int Added(int x) => x; }",
        parseOptions, path: "Extra.cs"));

    // Bind each compilation once, so the timings are the generator's and not the compiler's first-use cost (which a
    // build or the IDE pays anyway for its own diagnostics).
    _ = compilation.GetDiagnostics();
    _ = edited.GetDiagnostics();
    _ = withNew.GetDiagnostics();

    var cold = new List<double>();
    var edit = new List<double>();
    var added = new List<double>();
    int files = 0;
    long bytes = 0;
    for (int i = 0; i < runs + 2; i++)
    {
        GeneratorDriver driver = CreateDriver(parseOptions);
        long start = Stopwatch.GetTimestamp();
        driver = driver.RunGenerators(compilation);
        double coldMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        if (result.Exception is not null || result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            throw new InvalidOperationException("The synthetic compilation does not generate cleanly: " + (result.Exception?.ToString() ?? string.Join("\n", result.Diagnostics)));
        }

        files = result.GeneratedSources.Length;
        bytes = result.GeneratedSources.Sum(s => (long)s.SourceText.Length);

        start = Stopwatch.GetTimestamp();
        GeneratorDriver afterEdit = driver.RunGenerators(edited);
        double editMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;

        start = Stopwatch.GetTimestamp();
        _ = driver.RunGenerators(withNew);
        double addMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        GC.KeepAlive(afterEdit);

        if (i >= 2)
        {
            cold.Add(coldMs);
            edit.Add(editMs);
            added.Add(addMs);
        }
    }

    Console.WriteLine($"{tasks,6} {files,6} {Median(cold),9:F1} {Median(edit),13:F1} {Median(added),12:F1} {bytes * 2 / 1024.0,14:F0}");
}

static double Median(List<double> values)
{
    values.Sort();
    return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
}

static GeneratorDriver CreateDriver(CSharpParseOptions parseOptions)
    => CSharpGeneratorDriver.Create([new TaskGenerator().AsSourceGenerator()], parseOptions: parseOptions,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: false));

static CSharpCompilation ReplaceFirst(CSharpCompilation compilation, string from, string to)
{
    SyntaxTree tree = compilation.SyntaxTrees.First(t => t.ToString().Contains(from, StringComparison.Ordinal));
    string text = tree.ToString();
    int at = text.IndexOf(from, StringComparison.Ordinal);
    return compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(tree.GetText().WithChanges(new Microsoft.CodeAnalysis.Text.TextChange(new Microsoft.CodeAnalysis.Text.TextSpan(at, from.Length), to))));
}

CSharpCompilation CreateCompilation(int tasks)
{
    var trees = new List<SyntaxTree>
    {
        CSharpSyntaxTree.ParseText("""
            global using System;
            global using System.Collections.Generic;
            global using System.Threading;
            global using System.Threading.Tasks;
            using Celeriac;
            [assembly: TaskQueue("billing")]
            [assembly: TaskQueue("mail")]
            [assembly: TaskQueue("reports")]
            [assembly: TaskRoute("billing.*", Queue = "billing")]
            [assembly: TaskRoute("mail.*", Queue = "mail")]
            """, parseOptions, path: "Routing.cs"),
    };
    string[] areas = ["billing", "mail", "misc"];
    for (int c = 0; c * 10 < tasks; c++)
    {
        var sb = new StringBuilder();
        sb.Append("using Celeriac;\nnamespace Bench;\n");
        sb.Append(CultureInfo.InvariantCulture, $"public sealed record Payload{c}(string Id, int Count, List<string> Tags, DateTimeOffset At, decimal? Amount);\n");
        sb.Append(CultureInfo.InvariantCulture, $"public static partial class Jobs{c}\n{{\n");
        for (int ti = c * 10; ti < Math.Min(tasks, (c + 1) * 10); ti++)
        {
            int t = ti;
            string name = areas[t % 3] + ".task" + t.ToString(CultureInfo.InvariantCulture);
            string ts = t.ToString(CultureInfo.InvariantCulture);
            string cs = c.ToString(CultureInfo.InvariantCulture);
            sb.Append((t % 4) switch
            {
                0 => $"    [Task(Name = \"{name}\")] public static int T{ts}(int x, int y) => x + y;\n",
                1 => $"    [Task(Name = \"{name}\", MaxRetries = 3, RetryBackoff = \"500ms\", TimeLimit = \"1m\", RetryOn = new[] {{ typeof(TimeoutException) }})] public static Task<Payload{cs}> T{ts}(Payload{cs} p, CancellationToken ct) => Task.FromResult(p);\n",
                2 => $"    [Task(Name = \"{name}\", Queue = \"reports\")] public static async ValueTask T{ts}(string id, TaskContext ctx) => await Task.Yield();\n",
                _ => $"    [Task(Name = \"{name}\", Priority = 5)] public static void T{ts}(IReadOnlyList<Payload{cs}> items, Guid id) {{ }}\n",
            });
        }

        sb.Append("}\n");
        trees.Add(CSharpSyntaxTree.ParseText(sb.ToString(), parseOptions, path: "Jobs" + c.ToString(CultureInfo.InvariantCulture) + ".cs"));
    }

    return CSharpCompilation.Create("Bench.Tasks", trees, references,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
}

static ImmutableArray<MetadataReference> LoadReferences()
{
    string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
    var paths = tpa.Split(Path.PathSeparator)
        .Where(p => Path.GetFileName(p) is var f && (f.StartsWith("System.", StringComparison.Ordinal) || f is "System.dll" or "mscorlib.dll" or "netstandard.dll"
            || f.StartsWith("MessagePack", StringComparison.Ordinal) || f.StartsWith("Microsoft.Extensions.DependencyInjection", StringComparison.Ordinal)))
        .ToList();
    paths.Add(typeof(Celeriac.TaskAttribute).Assembly.Location);
    return paths.Distinct(StringComparer.Ordinal).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray();
}
