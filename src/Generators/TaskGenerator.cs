using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using Celeriac.Generators.Diagnostics;
using Celeriac.Generators.Emit;
using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;
using Celeriac.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace Celeriac.Generators;

/// <summary>
/// Generates, for each <c>[Task]</c> method, typed stubs in the containing partial type, and per assembly the
/// MessagePack resolver, the dispatch registry and the module initializer that registers it.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class TaskGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValueProvider<CompilationFacts> facts = context.CompilationProvider
            .Select(static (compilation, _) => ReadFacts(compilation))
            .WithTrackingName(TrackingNames.CompilationFacts);

        IncrementalValuesProvider<TaskParseResult> parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KnownTypeSymbols.TaskAttribute,
                static (node, _) => node is MethodDeclarationSyntax,
                TaskParser.Parse)
            .WithTrackingName(TrackingNames.ParsedTasks);

        // Diagnostics travel on their own output so that the generation models stay location-free.
        IncrementalValuesProvider<DiagnosticInfo> diagnostics = parsed
            .SelectMany(static (result, _) => result.Diagnostics.AsImmutableArray())
            .WithTrackingName(TrackingNames.TaskDiagnostics);
        ReportDiagnostics(context, diagnostics);

        // Queue and route declarations: assembly attributes, discovered per file.
        IncrementalValuesProvider<RoutingFileModel> queueFiles = context.SyntaxProvider
            .ForAttributeWithMetadataName(RoutingParser.TaskQueueAttribute, static (node, _) => node is CompilationUnitSyntax, RoutingParser.ParseQueues)
            .WithTrackingName(TrackingNames.QueueDeclarations);
        IncrementalValuesProvider<RoutingFileModel> routeFiles = context.SyntaxProvider
            .ForAttributeWithMetadataName(RoutingParser.TaskRouteAttribute, static (node, _) => node is CompilationUnitSyntax, RoutingParser.ParseRoutes)
            .WithTrackingName(TrackingNames.RouteDeclarations);
        IncrementalValueProvider<RoutingDeclarationsModel> declarations = queueFiles.Collect()
            .Combine(routeFiles.Collect())
            .Select(static (pair, _) => RoutingParser.Merge(pair.Left, pair.Right))
            .WithTrackingName(TrackingNames.RoutingDeclarations);

        // The location-free table is what generated code depends on: moving a declaration changes nothing downstream.
        IncrementalValueProvider<RouteTableModel> table = declarations
            .Select(static (all, _) => RoutingParser.ToTable(all))
            .WithTrackingName(TrackingNames.RouteTable);
        IncrementalValuesProvider<DiagnosticInfo> routingDiagnostics = declarations
            .Combine(table)
            .SelectMany(static (pair, _) => RoutingParser.CheckDeclarations(pair.Left, pair.Right))
            .WithTrackingName(TrackingNames.RoutingDiagnostics);
        ReportDiagnostics(context, routingDiagnostics);

        // Stubs are user-facing (IntelliSense needs them), so they use RegisterSourceOutput. Each task's queue is resolved
        // against the route table; a route edit re-emits only the tasks whose queue it changes.
        IncrementalValuesProvider<TaskModel> stubs = parsed
            .Where(static result => result.Task is not null)
            .Select(static (result, _) => result.Task!)
            .WithTrackingName(TrackingNames.TaskStubs)
            .Combine(table)
            .Select(static (pair, _) => Route(pair.Left, pair.Right))
            .WithTrackingName(TrackingNames.RoutedTasks);
        context.RegisterSourceOutput(stubs, static (spc, task) => spc.AddSource(TaskEmitter.HintName(task), SourceText.From(TaskEmitter.Emit(task), Encoding.UTF8)));

        IncrementalValueProvider<ImmutableArray<TaskNameModel>> names = parsed
            .Where(static result => result.Name is not null)
            .Select(static (result, _) => result.Name!)
            .WithTrackingName(TrackingNames.TaskNames)
            .Collect();
        IncrementalValuesProvider<DiagnosticInfo> duplicates = names
            .Combine(declarations.Combine(table))
            .Combine(facts)
            .SelectMany(static (pair, _) => CheckAcrossTasks(pair.Left.Left, pair.Left.Right.Left, pair.Left.Right.Right, pair.Right))
            .WithTrackingName(TrackingNames.DuplicateNameDiagnostics);
        ReportDiagnostics(context, duplicates);

        IncrementalValueProvider<AssemblyModel?> assembly = parsed
            .Where(static result => result.Registry is not null)
            .Select(static (result, _) => result.Registry!)
            .WithTrackingName(TrackingNames.RegistryItems)
            .Collect()
            .Combine(facts)
            .Combine(table)
            .Select(static (pair, _) => BuildAssemblyModel(pair.Left.Left, pair.Left.Right, pair.Right))
            .WithTrackingName(TrackingNames.AssemblyModel);
        context.RegisterImplementationSourceOutput(assembly, static (spc, model) =>
        {
            if (model is not null)
            {
                spc.AddSource(AssemblyEmitter.HintName(model), SourceText.From(AssemblyEmitter.Emit(model), Encoding.UTF8));
            }
        });
    }

    private static TaskModel Route(TaskModel task, RouteTableModel table)
    {
        string queue = Routing.Resolve(task.TaskName, task.ExplicitQueue, table);
        return queue == task.Queue ? task : task with { Queue = queue };
    }

    private static IEnumerable<DiagnosticInfo> CheckAcrossTasks(ImmutableArray<TaskNameModel> names, RoutingDeclarationsModel declarations, RouteTableModel table, CompilationFacts facts)
    {
        List<TaskNameModel> ordered = names
            .OrderBy(static n => n.Location?.FilePath ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(static n => n.Location?.Span.Start ?? 0)
            .ToList();
        foreach (DiagnosticInfo diagnostic in FindDuplicates(ordered, facts.References))
        {
            yield return diagnostic;
        }

        foreach (DiagnosticInfo diagnostic in RoutingParser.CheckTasks(ordered, declarations, table))
        {
            yield return diagnostic;
        }
    }

    /// <summary>
    /// Reports location-free diagnostics against the current compilation's syntax trees: only a location inside a tree
    /// lets the compiler apply <c>#pragma warning disable</c> and per-file .editorconfig severities. Re-running this
    /// output on every edit costs a path lookup per diagnostic; the models upstream stay cached.
    /// </summary>
    private static void ReportDiagnostics(IncrementalGeneratorInitializationContext context, IncrementalValuesProvider<DiagnosticInfo> diagnostics)
    {
        context.RegisterSourceOutput(
            diagnostics.Collect().Combine(context.CompilationProvider),
            static (spc, pair) =>
            {
                if (pair.Left.IsEmpty)
                {
                    return;
                }

                Dictionary<string, SyntaxTree>? trees = null;
                foreach (DiagnosticInfo diagnostic in pair.Left)
                {
                    if (diagnostic.Location is { } location)
                    {
                        trees ??= IndexTrees(pair.Right);
                        if (trees.TryGetValue(location.FilePath, out SyntaxTree? tree) && location.Span.End <= tree.Length)
                        {
                            spc.ReportDiagnostic(diagnostic.ToDiagnostic(Location.Create(tree, location.Span)));
                            continue;
                        }
                    }

                    spc.ReportDiagnostic(diagnostic.ToDiagnostic());
                }
            });
    }

    private static Dictionary<string, SyntaxTree> IndexTrees(Compilation compilation)
    {
        var trees = new Dictionary<string, SyntaxTree>(StringComparer.Ordinal);
        foreach (SyntaxTree tree in compilation.SyntaxTrees)
        {
            if (!trees.ContainsKey(tree.FilePath))
            {
                trees.Add(tree.FilePath, tree);
            }
        }

        return trees;
    }

    // The registry of a task assembly lists its task names as constants of a nested TaskNames class: cheap to read
    // from metadata, and no reflection over the referenced assembly's types.
    private static EquatableArray<string> ReadTaskNames(INamedTypeSymbol registry)
    {
        var names = new List<string>();
        foreach (INamedTypeSymbol nested in registry.GetTypeMembers(AssemblyEmitter.TaskNamesClass))
        {
            foreach (ISymbol member in nested.GetMembers())
            {
                if (member is IFieldSymbol { IsConst: true, ConstantValue: string name })
                {
                    names.Add(name);
                }
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names.ToEquatableArray();
    }

    private static CompilationFacts ReadFacts(Compilation compilation)
    {
        bool hasCeleriac = compilation.GetTypeByMetadataName(KnownTypeSymbols.TaskContext) is not null
            && compilation.GetTypeByMetadataName(KnownTypeSymbols.TaskClient) is not null;
        INamedTypeSymbol? moduleInitializer = compilation.GetTypeByMetadataName("System.Runtime.CompilerServices.ModuleInitializerAttribute");
        bool supportsModuleInitializer = moduleInitializer is not null && compilation.IsSymbolAccessibleWithin(moduleInitializer, compilation.Assembly);
        bool supportsFileLocal = compilation is CSharpCompilation { LanguageVersion: >= LanguageVersion.CSharp11 };

        var references = new List<ReferencedTaskAssemblyModel>();
        if (hasCeleriac)
        {
            foreach (IAssemblySymbol referenced in compilation.SourceModule.ReferencedAssemblySymbols)
            {
                foreach (AttributeData attribute in referenced.GetAttributes())
                {
                    if (attribute.AttributeClass?.ToDisplayString() == KnownTypeSymbols.TaskAssemblyAttribute
                        && attribute.ConstructorArguments.Length == 1
                        && attribute.ConstructorArguments[0].Value is INamedTypeSymbol registry)
                    {
                        references.Add(new ReferencedTaskAssemblyModel(referenced.Name, registry.ToDisplayString(PayloadTypeWalker.PlainFormat), ReadTaskNames(registry)));
                    }
                }
            }
        }

        references.Sort(static (a, b) => string.CompareOrdinal(a.AssemblyName, b.AssemblyName));
        return new CompilationFacts(compilation.AssemblyName ?? string.Empty, hasCeleriac, supportsModuleInitializer, supportsFileLocal, references.ToEquatableArray());
    }

    private static IEnumerable<DiagnosticInfo> FindDuplicates(List<TaskNameModel> ordered, EquatableArray<ReferencedTaskAssemblyModel> references)
    {
        foreach (IGrouping<string, TaskNameModel> group in ordered.GroupBy(static n => n.TaskName, StringComparer.Ordinal))
        {
            List<TaskNameModel> same = group.ToList();
            for (int i = 1; i < same.Count; i++)
            {
                yield return new DiagnosticInfo(
                    DiagnosticDescriptors.DuplicateTaskName,
                    same[i].Location,
                    new[] { same[i].TaskName, same[i].Display, same[0].Display }.ToEquatableArray());
            }
        }

        if (references.IsEmpty)
        {
            yield break;
        }

        // Referenced assemblies (in name order) and this one: the first owner of a name keeps it.
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (ReferencedTaskAssemblyModel reference in references)
        {
            foreach (string name in reference.TaskNames)
            {
                if (owners.TryGetValue(name, out string? owner))
                {
                    yield return new DiagnosticInfo(
                        DiagnosticDescriptors.DuplicateTaskNameAcrossAssemblies, null,
                        new[] { name, "referenced assembly '" + reference.AssemblyName + "'", owner }.ToEquatableArray());
                }
                else
                {
                    owners.Add(name, reference.AssemblyName);
                }
            }
        }

        foreach (TaskNameModel task in ordered)
        {
            if (owners.TryGetValue(task.TaskName, out string? owner))
            {
                yield return new DiagnosticInfo(
                    DiagnosticDescriptors.DuplicateTaskNameAcrossAssemblies, task.Location,
                    new[] { task.TaskName, task.Display, owner }.ToEquatableArray());
            }
        }
    }

    private static AssemblyModel? BuildAssemblyModel(ImmutableArray<RegistryItemModel> items, CompilationFacts facts, RouteTableModel table)
    {
        bool hasRegistry = !items.IsEmpty || !table.DeclaredQueues.IsEmpty;
        if (!facts.HasCeleriac || (!hasRegistry && facts.References.IsEmpty))
        {
            return null;
        }

        if (!hasRegistry && !facts.SupportsModuleInitializer)
        {
            return null;
        }

        var formatters = new Dictionary<string, FormatterModel>(StringComparer.Ordinal);
        var lookups = new Dictionary<string, LookupEntryModel>(StringComparer.Ordinal);
        foreach (RegistryItemModel item in items)
        {
            foreach (FormatterModel formatter in item.Formatters)
            {
                if (!formatters.ContainsKey(formatter.TypeFqn))
                {
                    formatters.Add(formatter.TypeFqn, formatter);
                }
            }

            foreach (LookupEntryModel lookup in item.Lookups)
            {
                if (!lookups.ContainsKey(lookup.TypeFqn))
                {
                    lookups.Add(lookup.TypeFqn, lookup);
                }
            }
        }

        return new AssemblyModel(
            facts.AssemblyName,
            "Celeriac.Generated." + NameHelper.SanitizeAssemblyName(facts.AssemblyName),
            facts.SupportsModuleInitializer,
            facts.SupportsFileLocalTypes,
            items.OrderBy(static i => i.TaskName, StringComparer.Ordinal).ThenBy(static i => i.RegistrationFqn, StringComparer.Ordinal)
                .Select(static i => i.RegistrationFqn).ToEquatableArray(),
            items.Select(static i => i.TaskName).Distinct(StringComparer.Ordinal).OrderBy(static n => n, StringComparer.Ordinal).ToEquatableArray(),
            table.DeclaredQueues,
            formatters.Values.OrderBy(static f => f.TypeFqn, StringComparer.Ordinal).ToEquatableArray(),
            lookups.Values.OrderBy(static l => l.TypeFqn, StringComparer.Ordinal).ToEquatableArray(),
            facts.References,
            items.Where(static i => i.ScheduleFqn is not null).OrderBy(static i => i.TaskName, StringComparer.Ordinal)
                .Select(static i => i.ScheduleFqn!).ToEquatableArray());
    }
}
