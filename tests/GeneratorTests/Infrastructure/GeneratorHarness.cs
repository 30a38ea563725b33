using System.Collections.Immutable;
using System.Reflection;
using System.Runtime.Loader;
using Celeriac.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Celeriac.GeneratorTests.Infrastructure;

/// <summary>The outcome of one generator run.</summary>
public sealed record GeneratorRun(
    GeneratorDriver Driver,
    GeneratorDriverRunResult Result,
    CSharpCompilation Input,
    Compilation Output,
    ImmutableArray<Diagnostic> AllGeneratorDiagnostics)
{
    /// <summary>What the compiler reports: diagnostics suppressed by <c>#pragma</c> come back flagged, and csc does not show them.</summary>
    public ImmutableArray<Diagnostic> GeneratorDiagnostics => AllGeneratorDiagnostics.Where(d => !d.IsSuppressed).ToImmutableArray();

    /// <summary>Generator diagnostics suppressed in source (<c>#pragma warning disable</c>).</summary>
    public ImmutableArray<Diagnostic> SuppressedDiagnostics => AllGeneratorDiagnostics.Where(d => d.IsSuppressed).ToImmutableArray();

    public IReadOnlyList<GeneratedSourceResult> Sources => Result.Results.Single().GeneratedSources.OrderBy(s => s.HintName, StringComparer.Ordinal).ToList();

    public string Source(string hintFragment) => Sources.Single(s => s.HintName.Contains(hintFragment, StringComparison.Ordinal)).SourceText.ToString();

    /// <summary>All generated files, ordered by hint name, separated by a banner line.</summary>
    public string AllSources() => string.Concat(Sources.Select(s => "// ===== " + s.HintName + " =====\n" + s.SourceText.ToString().ReplaceLineEndings("\n") + "\n"));

    /// <summary>Errors and warnings of the output compilation (user code plus generated code).</summary>
    public ImmutableArray<Diagnostic> CompilationProblems() => Output.GetDiagnostics()
        .Where(d => d.Severity >= DiagnosticSeverity.Warning)
        .ToImmutableArray();

    public void AssertCompilesCleanly()
    {
        Assert.Empty(GeneratorDiagnostics);
        ImmutableArray<Diagnostic> problems = CompilationProblems();
        Assert.True(problems.IsEmpty, "The output does not compile cleanly:\n" + string.Join("\n", problems.Select(d => d.ToString())));
    }
}

/// <summary>Builds compilations from the trusted-platform references plus Celeriac and runs <see cref="TaskGenerator"/> with step tracking.</summary>
public static class GeneratorHarness
{
    public const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, DocumentationMode.Parse);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(LoadReferences);

    public static ImmutableArray<MetadataReference> DefaultReferences => References.Value;

    public static CSharpCompilation CreateCompilation(
        IEnumerable<string> sources,
        string assemblyName = "Samples.Tasks",
        IEnumerable<MetadataReference>? extraReferences = null,
        CSharpParseOptions? parseOptions = null,
        bool warningsAsErrors = false)
    {
        CSharpParseOptions options = parseOptions ?? ParseOptions;
        IEnumerable<SyntaxTree> trees = sources.Prepend(GlobalUsings)
            .Select((source, i) => CSharpSyntaxTree.ParseText(source, options, path: i == 0 ? "GlobalUsings.cs" : "Source" + i + ".cs"));
        return CSharpCompilation.Create(
            assemblyName,
            trees,
            DefaultReferences.Concat(extraReferences ?? []),
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                warningLevel: 9999,
                generalDiagnosticOption: warningsAsErrors ? ReportDiagnostic.Error : ReportDiagnostic.Default,
                specificDiagnosticOptions: new Dictionary<string, ReportDiagnostic>
                {
                    // Unused usings in the harness' global usings are not the generator's business.
                    ["CS8019"] = ReportDiagnostic.Suppress,
                    // The SDK suppresses these unification notes by default (MessagePack targets an older System.Memory).
                    ["CS1701"] = ReportDiagnostic.Suppress,
                    ["CS1702"] = ReportDiagnostic.Suppress,
                }));
    }

    public static GeneratorDriver CreateDriver(CSharpParseOptions? parseOptions = null)
        => CSharpGeneratorDriver.Create(
            [new TaskGenerator().AsSourceGenerator()],
            parseOptions: parseOptions ?? ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public static GeneratorRun Run(params string[] sources) => Run(CreateCompilation(sources));

    public static GeneratorRun Run(CSharpCompilation compilation, GeneratorDriver? driver = null)
    {
        driver ??= CreateDriver((CSharpParseOptions?)compilation.SyntaxTrees.FirstOrDefault()?.Options);
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        return new GeneratorRun(driver, driver.GetRunResult(), compilation, output, diagnostics);
    }

    /// <summary>Emits <paramref name="compilation"/> and loads it into a collectible context.</summary>
    public static Assembly Load(Compilation compilation, out AssemblyLoadContext context)
    {
        using var stream = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult emitted = compilation.Emit(stream);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        stream.Position = 0;
        context = new AssemblyLoadContext("generated-" + Guid.NewGuid().ToString("N"), isCollectible: true);
        return context.LoadFromStream(stream);
    }

    public static MetadataReference ToReference(Compilation compilation)
    {
        using var stream = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult emitted = compilation.Emit(stream);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        return MetadataReference.CreateFromImage(stream.ToArray());
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        var paths = tpa.Split(Path.PathSeparator)
            .Where(p =>
            {
                string name = Path.GetFileNameWithoutExtension(p);
                return name.StartsWith("System.", StringComparison.Ordinal) || name is "System" or "mscorlib" or "netstandard";
            })
            .ToList();
        paths.Add(typeof(TaskAttribute).Assembly.Location);
        paths.Add(typeof(MessagePack.MessagePackSerializer).Assembly.Location);
        paths.Add(typeof(MessagePack.MessagePackObjectAttribute).Assembly.Location);
        paths.Add(typeof(Microsoft.Extensions.DependencyInjection.IServiceCollection).Assembly.Location);
        return paths.Distinct(StringComparer.Ordinal).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray();
    }
}
