using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Celeriac.Generators.Diagnostics;
using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Celeriac.Generators.Parsing;

/// <summary>Reads <c>[assembly: TaskQueue]</c>/<c>[assembly: TaskRoute]</c> and checks the declarations against each other and the tasks.</summary>
internal static class RoutingParser
{
    public const string TaskQueueAttribute = "Celeriac.TaskQueueAttribute";
    public const string TaskRouteAttribute = "Celeriac.TaskRouteAttribute";

    public static RoutingFileModel ParseQueues(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var queues = new List<QueueDeclarationModel>();
        foreach (AttributeData attribute in context.Attributes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is string name)
            {
                queues.Add(new QueueDeclarationModel(name, LocationInfo.From(attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation())));
            }
        }

        return new RoutingFileModel(queues.ToEquatableArray(), EquatableArray<RouteDeclarationModel>.Empty);
    }

    public static RoutingFileModel ParseRoutes(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var routes = new List<RouteDeclarationModel>();
        foreach (AttributeData attribute in context.Attributes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (attribute.ConstructorArguments.Length != 1 || attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is not AttributeSyntax syntax)
            {
                continue;
            }

            string pattern = attribute.ConstructorArguments[0].Value as string ?? string.Empty;
            string? queue = attribute.NamedArguments.FirstOrDefault(a => a.Key == "Queue").Value.Value as string;
            routes.Add(new RouteDeclarationModel(pattern, queue, syntax.SyntaxTree.FilePath, syntax.SpanStart, LocationInfo.From(syntax.GetLocation())));
        }

        return new RoutingFileModel(EquatableArray<QueueDeclarationModel>.Empty, routes.ToEquatableArray());
    }

    /// <summary>Merges the files: queues sorted by name, routes in declaration order (file path, then position in the file).</summary>
    public static RoutingDeclarationsModel Merge(IEnumerable<RoutingFileModel> queueFiles, IEnumerable<RoutingFileModel> routeFiles)
    {
        List<QueueDeclarationModel> queues = queueFiles.SelectMany(f => f.Queues)
            .OrderBy(q => q.Name, System.StringComparer.Ordinal)
            .ThenBy(q => q.Location?.FilePath ?? string.Empty, System.StringComparer.Ordinal)
            .ThenBy(q => q.Location?.Span.Start ?? 0)
            .ToList();
        List<RouteDeclarationModel> routes = routeFiles.SelectMany(f => f.Routes)
            .OrderBy(r => r.FilePath, System.StringComparer.Ordinal)
            .ThenBy(r => r.Position)
            .ToList();
        return new RoutingDeclarationsModel(queues.ToEquatableArray(), routes.ToEquatableArray());
    }

    /// <summary>The location-free table: valid declared queues and valid routes to declared queues.</summary>
    public static RouteTableModel ToTable(RoutingDeclarationsModel declarations)
    {
        var declared = new SortedSet<string>(System.StringComparer.Ordinal);
        foreach (QueueDeclarationModel queue in declarations.Queues)
        {
            if (Routing.ValidateQueueName(queue.Name) is null)
            {
                declared.Add(queue.Name);
            }
        }

        // Any declaration switches declarations on, and then 'default' is always among them.
        if (declared.Count > 0)
        {
            declared.Add(Routing.DefaultQueue);
        }

        var routes = new List<RouteEntryModel>();
        foreach (RouteDeclarationModel route in declarations.Routes)
        {
            if (Routing.ValidatePattern(route.Pattern) is null && Routing.ValidateQueueName(route.Queue) is null)
            {
                routes.Add(new RouteEntryModel(route.Pattern, route.Queue!));
            }
        }

        return new RouteTableModel(declared.ToEquatableArray(), routes.ToEquatableArray());
    }

    /// <summary>Diagnostics of the declarations alone: CEL0207 (queue names), CEL0210 (patterns), CEL0208 (undeclared route targets).</summary>
    public static IEnumerable<DiagnosticInfo> CheckDeclarations(RoutingDeclarationsModel declarations, RouteTableModel table)
    {
        foreach (QueueDeclarationModel queue in declarations.Queues)
        {
            if (Routing.ValidateQueueName(queue.Name) is { } error)
            {
                yield return new DiagnosticInfo(DiagnosticDescriptors.InvalidQueueName, queue.Location, Args("[assembly: TaskQueue]", queue.Name, error));
            }
        }

        foreach (RouteDeclarationModel route in declarations.Routes)
        {
            if (Routing.ValidatePattern(route.Pattern) is { } patternError)
            {
                yield return new DiagnosticInfo(DiagnosticDescriptors.InvalidRoutePattern, route.Location, Args(route.Pattern, patternError));
            }

            if (Routing.ValidateQueueName(route.Queue) is { } queueError)
            {
                yield return new DiagnosticInfo(
                    DiagnosticDescriptors.InvalidQueueName, route.Location,
                    Args("Route '" + route.Pattern + "'", route.Queue ?? string.Empty, route.Queue is null ? "set TaskRoute(..., Queue = \"...\")" : queueError));
            }
            else if (!IsDeclared(route.Queue!, table))
            {
                yield return new DiagnosticInfo(DiagnosticDescriptors.RouteToUndeclaredQueue, route.Location, Args(route.Pattern, route.Queue!, DeclaredList(table)));
            }
        }
    }

    /// <summary>
    /// Diagnostics that need every task: CEL0209 (task queue not declared), CEL0211 (dead route), CEL0212 (a task
    /// matched by routes to different queues).
    /// </summary>
    public static IEnumerable<DiagnosticInfo> CheckTasks(IReadOnlyList<TaskNameModel> tasks, RoutingDeclarationsModel declarations, RouteTableModel table)
    {
        bool usesDeclarations = !declarations.Queues.IsEmpty;
        foreach (TaskNameModel task in tasks)
        {
            if (usesDeclarations && task.ExplicitQueue is { } queue && Routing.ValidateQueueName(queue) is null && !IsDeclared(queue, table))
            {
                yield return new DiagnosticInfo(DiagnosticDescriptors.TaskQueueNotDeclared, task.QueueLocation ?? task.Location, Args(task.TaskName, queue, DeclaredList(table)));
            }
        }

        var valid = declarations.Routes
            .Where(r => Routing.ValidatePattern(r.Pattern) is null && Routing.ValidateQueueName(r.Queue) is null)
            .ToList();
        foreach (RouteDeclarationModel route in valid)
        {
            if (!tasks.Any(t => Routing.Matches(route.Pattern, t.TaskName)))
            {
                string hint = tasks.Count == 0 ? string.Empty : " (task names look like '" + tasks.OrderBy(t => t.TaskName, System.StringComparer.Ordinal).First().TaskName + "')";
                yield return new DiagnosticInfo(DiagnosticDescriptors.DeadRoute, route.Location, Args(route.Pattern, route.Queue!, hint));
            }
        }

        if (valid.Count < 2)
        {
            yield break;
        }

        foreach (TaskNameModel task in tasks)
        {
            if (task.ExplicitQueue is not null)
            {
                continue;
            }

            RouteDeclarationModel? first = null;
            foreach (RouteDeclarationModel route in valid)
            {
                if (!Routing.Matches(route.Pattern, task.TaskName))
                {
                    continue;
                }

                if (first is null)
                {
                    first = route;
                }
                else if (route.Queue != first.Queue)
                {
                    yield return new DiagnosticInfo(DiagnosticDescriptors.OverlappingRoutes, task.Location, Args(task.TaskName, first.Pattern, first.Queue!, route.Pattern, route.Queue!));
                    break;
                }
            }
        }
    }

    private static bool IsDeclared(string queue, RouteTableModel table)
        => queue == Routing.DefaultQueue || table.DeclaredQueues.AsImmutableArray().Contains(queue);

    private static string DeclaredList(RouteTableModel table)
        => table.DeclaredQueues.IsEmpty ? "only 'default'" : string.Join(", ", table.DeclaredQueues.Select(q => "'" + q + "'"));

    private static EquatableArray<string> Args(params string[] args) => args.ToEquatableArray();
}
