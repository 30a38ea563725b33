using Celeriac.Generators.Helpers;

namespace Celeriac.Generators.Model;

/// <summary>A <c>[assembly: TaskQueue(name)]</c> as written. Immutable, with structural equality.</summary>
internal sealed record QueueDeclarationModel(string Name, LocationInfo? Location);

/// <summary>
/// A <c>[assembly: TaskRoute(pattern, Queue = ...)]</c> as written, with its position for declaration order.
/// Immutable, with structural equality.
/// </summary>
internal sealed record RouteDeclarationModel(string Pattern, string? Queue, string FilePath, int Position, LocationInfo? Location);

/// <summary>The queue and route declarations of one file. Immutable, with structural equality.</summary>
internal sealed record RoutingFileModel(EquatableArray<QueueDeclarationModel> Queues, EquatableArray<RouteDeclarationModel> Routes)
{
    public static readonly RoutingFileModel Empty = new(EquatableArray<QueueDeclarationModel>.Empty, EquatableArray<RouteDeclarationModel>.Empty);
}

/// <summary>Every queue and route declaration of the compilation, routes in declaration order. Immutable, with structural equality.</summary>
internal sealed record RoutingDeclarationsModel(EquatableArray<QueueDeclarationModel> Queues, EquatableArray<RouteDeclarationModel> Routes);

/// <summary>A valid route: a glob over task names and the queue it selects. Immutable, with structural equality.</summary>
internal sealed record RouteEntryModel(string Pattern, string Queue);

/// <summary>
/// The location-free routing table that generated code depends on: the declared queues (sorted; with
/// <c>default</c> whenever any queue is declared, empty when declarations are not used) and the valid routes in declaration order. Moving a declaration leaves it equal, so stubs stay cached.
/// Immutable, with structural equality.
/// </summary>
internal sealed record RouteTableModel(EquatableArray<string> DeclaredQueues, EquatableArray<RouteEntryModel> Routes)
{
    public static readonly RouteTableModel Empty = new(EquatableArray<string>.Empty, EquatableArray<RouteEntryModel>.Empty);
}
