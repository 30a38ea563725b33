using Celeriac.Generators.Helpers;

namespace Celeriac.Generators.Model;

/// <summary>
/// Facts read once per compilation: small, immutable, with structural equality, so the per-assembly output is only
/// recomputed when one of them changes.
/// </summary>
internal sealed record CompilationFacts(
    string AssemblyName,
    bool HasCeleriac,
    bool SupportsModuleInitializer,
    bool SupportsFileLocalTypes,
    EquatableArray<ReferencedTaskAssemblyModel> References,
    EquatableArray<string> Schedules = default);

/// <summary>A referenced assembly marked <c>[assembly: TaskAssembly(typeof(Registry))]</c> and its task names. Immutable, with structural equality.</summary>
internal sealed record ReferencedTaskAssemblyModel(string AssemblyName, string RegistryFqn, EquatableArray<string> TaskNames);

/// <summary>The per-assembly file: resolver, registry, module initializer. Immutable, with structural equality.</summary>
internal sealed record AssemblyModel(
    string AssemblyName,
    string ResolverNamespace,
    bool SupportsModuleInitializer,
    bool SupportsFileLocalTypes,
    EquatableArray<string> Registrations,
    EquatableArray<string> TaskNames,
    EquatableArray<string> DeclaredQueues,
    EquatableArray<FormatterModel> Formatters,
    EquatableArray<LookupEntryModel> Lookups,
    EquatableArray<ReferencedTaskAssemblyModel> References,
    EquatableArray<string> Schedules = default);
