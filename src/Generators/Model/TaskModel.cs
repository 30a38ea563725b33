using Celeriac.Generators.Helpers;

namespace Celeriac.Generators.Model;

internal enum ReturnKind
{
    Void,
    Value,
    Task,
    TaskOfT,
    ValueTask,
    ValueTaskOfT,
}

internal enum ParameterKind
{
    Payload,
    Context,
    CancellationToken,
}

/// <summary>
/// Everything needed to emit one task's stub file. Immutable, with structural equality; holds no symbol, syntax node
/// or location, so an edit that does not change the task's shape leaves the model (and its output) cached.
/// </summary>
/// <param name="ExplicitQueue">The queue of <c>[Task(Queue = ...)]</c>, or null.</param>
/// <param name="Periodic">The <c>[Periodic]</c> schedule, or null.</param>
/// <param name="Queue">The resolved queue: the explicit one, else the first matching route, else <c>default</c> (set after parsing, from the route table).</param>
internal sealed record TaskModel(
    string AssemblyName,
    string ResolverFqn,
    string? Namespace,
    EquatableArray<ContainingTypeModel> ContainingTypes,
    string ContainingTypeFqn,
    string MethodName,
    string ClassName,
    bool IsPublic,
    string TaskName,
    string? ExplicitQueue,
    string Queue,
    int Priority,
    TaskPolicyModel Policy,
    bool IsStatic,
    ReturnKind ReturnKind,
    TypeRefModel? Result,
    EquatableArray<ParameterModel> Parameters,
    PeriodicModel? Periodic = null);

/// <summary>A containing type as re-declared by the partial stub (<c>partial class Outer</c>). Immutable, with structural equality.</summary>
internal sealed record ContainingTypeModel(string Keyword, string Name);

/// <summary>A parameter of the task method. Immutable, with structural equality.</summary>
/// <param name="Name">The parameter name as written in C# (escaped).</param>
/// <param name="StubName">The name in the generated stubs, renamed when it collides with a stub member or parameter.</param>
/// <param name="FieldName">The field of the generated <c>Args</c> struct.</param>
/// <param name="RawName">The name without escaping, for messages.</param>
/// <param name="Kind">Serialized, or injected from the context.</param>
/// <param name="Type">For payload parameters, the type.</param>
internal sealed record ParameterModel(string Name, string StubName, string FieldName, string RawName, ParameterKind Kind, TypeRefModel? Type);

/// <summary>What the per-assembly registry needs from one valid task. Immutable, with structural equality.</summary>
internal sealed record RegistryItemModel(
    string TaskName,
    string RegistrationFqn,
    EquatableArray<FormatterModel> Formatters,
    EquatableArray<LookupEntryModel> Lookups,
    string? ScheduleFqn = null);

/// <summary>A task name, its explicit queue and where they were declared, for the checks across tasks. Immutable, with structural equality.</summary>
internal sealed record TaskNameModel(string TaskName, string Display, LocationInfo? Location, string? ExplicitQueue, LocationInfo? QueueLocation);

/// <summary>The result of parsing one <c>[Task]</c> method. Immutable, with structural equality.</summary>
internal sealed record TaskParseResult(
    TaskModel? Task,
    RegistryItemModel? Registry,
    TaskNameModel? Name,
    EquatableArray<DiagnosticInfo> Diagnostics)
{
    public static readonly TaskParseResult Empty = new(null, null, null, EquatableArray<DiagnosticInfo>.Empty);
}
