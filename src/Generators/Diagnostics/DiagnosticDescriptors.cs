using Microsoft.CodeAnalysis;

namespace Celeriac.Generators.Diagnostics;

/// <summary>Every diagnostic the generator reports. IDs are literals: 0001–0099 task method shape, 0100–0199 payload types, 0200–0299 configuration (options, queues, routes), 0300–0319 periodic schedules.</summary>
internal static class DiagnosticDescriptors
{
    // First: the descriptors below are built from it (static fields initialize in textual order).
    private static readonly string RepositoryUrl = ReadRepositoryUrl();

    private const string UsageCategory = "Celeriac.Usage";
    private const string PayloadCategory = "Celeriac.Payload";
    private const string ConfigurationCategory = "Celeriac.Configuration";
    private const string ScheduleCategory = "Celeriac.Schedule";

    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Create(
        "CEL0001",
        "Containing type of a task is not partial",
        "Type '{0}' contains the task method '{1}' and must be declared partial (with every type enclosing it) so that the generator can add the task's stubs",
        UsageCategory);

    public static readonly DiagnosticDescriptor GenericTask = Create(
        "CEL0002",
        "Task method or containing type is generic",
        "Task method '{0}' cannot be generic or be declared in a generic type: a task name must map to one concrete signature",
        UsageCategory);

    public static readonly DiagnosticDescriptor UnsupportedParameterKind = Create(
        "CEL0003",
        "Task parameter kind is not supported",
        "Parameter '{0}' of task method '{1}' cannot be sent in a message: {2}",
        UsageCategory);

    public static readonly DiagnosticDescriptor UnsupportedReturnType = Create(
        "CEL0004",
        "Task return type is not supported",
        "Task method '{0}' returns '{1}', which a worker cannot await and store: {2}",
        UsageCategory);

    public static readonly DiagnosticDescriptor DuplicateTaskName = Create(
        "CEL0005",
        "Duplicate task name",
        "Task name '{0}' of '{1}' is already used by '{2}'; task names must be unique, set [Task(Name = ...)] on one of them",
        UsageCategory);

    public static readonly DiagnosticDescriptor GeneratedNameCollision = Create(
        "CEL0006",
        "Generated task type name collides with a member",
        "The generator would add a nested type '{0}' to '{1}' for task method '{2}', but {3}",
        UsageCategory);

    public static readonly DiagnosticDescriptor DuplicateInjectedParameter = Create(
        "CEL0007",
        "More than one injected parameter of the same kind",
        "Task method '{0}' declares more than one '{1}' parameter; declare it at most once",
        UsageCategory);

    public static readonly DiagnosticDescriptor InaccessibleContainingType = Create(
        "CEL0008",
        "Containing type of a task is not accessible from its assembly",
        "Type '{0}' contains the task method '{1}' but is {2}, so the generated dispatch table cannot reach it; make it internal or public",
        UsageCategory);

    public static readonly DiagnosticDescriptor InvalidTaskName = Create(
        "CEL0009",
        "Invalid task name",
        "Task name '{0}' of '{1}' is invalid: {2}",
        UsageCategory);

    public static readonly DiagnosticDescriptor DuplicateTaskNameAcrossAssemblies = Create(
        "CEL0010",
        "Task name is already used by a referenced assembly",
        "Task name '{0}' of '{1}' is already used by a task of the referenced assembly '{2}'; a worker loading both cannot tell them apart, set [Task(Name = ...)] on one of them",
        UsageCategory);

    public static readonly DiagnosticDescriptor ParameterNotSerializable = Create(
        "CEL0101",
        "Task parameter type cannot be serialized",
        "Parameter '{0}' of task method '{1}' cannot be serialized: {2}",
        PayloadCategory);

    public static readonly DiagnosticDescriptor ReturnNotSerializable = Create(
        "CEL0102",
        "Task return type cannot be serialized",
        "The return value of task method '{0}' cannot be serialized: {1}",
        PayloadCategory);

    public static readonly DiagnosticDescriptor InvalidDuration = Create(
        "CEL0201",
        "Invalid duration",
        "{0} of task '{1}' is '{2}', which is not a valid duration: {3}",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor InvalidRateLimit = Create(
        "CEL0202",
        "Invalid rate limit",
        "RateLimit of task '{0}' is '{1}', which is not a valid rate limit: {2}",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor NegativeMaxRetries = Create(
        "CEL0203",
        "Negative retry count",
        "MaxRetries of task '{0}' is {1}; use 0 (never retry) or a positive count",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor PriorityOutOfRange = Create(
        "CEL0204",
        "Priority out of range",
        "Priority of task '{0}' is {1}; priorities range from 0 (lowest) to 9 (highest)",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor SoftTimeLimitNotBelowTimeLimit = Create(
        "CEL0205",
        "Soft time limit is not below the time limit",
        "SoftTimeLimit '{1}' of task '{0}' is not shorter than its TimeLimit '{2}', so the task is abandoned before it is asked to stop",
        ConfigurationCategory,
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor NotAnExceptionType = Create(
        "CEL0206",
        "Retry filter type is not an exception",
        "{0} of task '{1}' lists '{2}', which does not derive from System.Exception",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor InvalidQueueName = Create(
        "CEL0207",
        "Invalid queue name",
        "{0} names the queue '{1}', which is invalid: {2}",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor RouteToUndeclaredQueue = Create(
        "CEL0208",
        "Route to an undeclared queue",
        "Route '{0}' sends tasks to queue '{1}', which is not declared; declared queues: {2}. Add [assembly: TaskQueue(\"{1}\")] or fix the route.",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor TaskQueueNotDeclared = Create(
        "CEL0209",
        "Task queue is not declared",
        "Task '{0}' is sent to queue '{1}', which is not declared although the assembly declares queues ({2}); add [assembly: TaskQueue(\"{1}\")] or fix the name",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor InvalidRoutePattern = Create(
        "CEL0210",
        "Invalid route pattern",
        "Route pattern '{0}' is invalid: {1}",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor DeadRoute = Create(
        "CEL0211",
        "Route matches no task",
        "Route '{0}' (queue '{1}') matches no task of this assembly{2}",
        ConfigurationCategory,
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor OverlappingRoutes = Create(
        "CEL0212",
        "Task matched by routes to different queues",
        "Task '{0}' matches route '{1}' (queue '{2}') and the later route '{3}' (queue '{4}'); the first match wins, so it goes to '{2}'",
        ConfigurationCategory,
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor UnknownExecution = Create(
        "CEL0213",
        "Unknown execution kind",
        "Execution of task '{0}' is {1}, which is no TaskExecution value; use TaskExecution.Pool or TaskExecution.Cpu",
        ConfigurationCategory);

    public static readonly DiagnosticDescriptor InvalidCron = Create(
        "CEL0301",
        "Invalid cron expression",
        "Cron expression '{0}' of the periodic task '{1}' is invalid: {2}",
        ScheduleCategory);

    public static readonly DiagnosticDescriptor UnknownTimeZone = Create(
        "CEL0302",
        "Unknown time zone",
        "Time zone '{0}' of the periodic task '{1}' is not an IANA time zone id{2}",
        ScheduleCategory);

    public static readonly DiagnosticDescriptor PeriodicTaskHasArguments = Create(
        "CEL0303",
        "Periodic task has serialized parameters",
        "Task '{0}' is [Periodic] but its parameter '{1}' is serialized, and a scheduled tick has no value for it; remove the parameter, or add the schedule at run time with its arguments (client.Schedules.UpsertAsync)",
        ScheduleCategory);

    public static readonly DiagnosticDescriptor ScheduleKindAmbiguous = Create(
        "CEL0304",
        "Periodic schedule needs a cron expression or an interval",
        "The [Periodic] schedule of task '{0}' {1}; give exactly one of them",
        ScheduleCategory);

    public static readonly DiagnosticDescriptor InvalidInterval = Create(
        "CEL0305",
        "Invalid interval",
        "Interval '{0}' of the periodic task '{1}' is invalid: {2}",
        ScheduleCategory);

    public static readonly DiagnosticDescriptor TimeZoneWithInterval = Create(
        "CEL0306",
        "Time zone on an interval schedule",
        "The periodic task '{0}' runs at an interval (Every) and sets TimeZone '{1}'; an interval is the same in every time zone, remove TimeZone or use a cron expression",
        ScheduleCategory);

    public static readonly DiagnosticDescriptor MaxMissedRunsOutOfRange = Create(
        "CEL0307",
        "MaxMissedRuns out of range",
        "MaxMissedRuns of the periodic task '{0}' is {1}; it must be between 1 and 1000",
        ScheduleCategory);

    public static readonly DiagnosticDescriptor UnknownMissedTicks = Create(
        "CEL0308",
        "Unknown missed-tick policy",
        "MissedTicks of the periodic task '{0}' is {1}, which is not a value of Celeriac.MissedTicks",
        ScheduleCategory);

    /// <summary>The repository's page of a diagnostic: <c>{RepositoryUrl}/blob/main/docs/diagnostics/{id}.md</c>, the URL coming from the build (Directory.Build.props).</summary>
    public static string HelpLink(string id) => (RepositoryUrl.Length > 0 ? RepositoryUrl + "/blob/main/" : string.Empty) + "docs/diagnostics/" + id + ".md";

    private static string ReadRepositoryUrl()
    {
        foreach (object attribute in typeof(DiagnosticDescriptors).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), inherit: false))
        {
            if (attribute is System.Reflection.AssemblyMetadataAttribute { Key: "Celeriac.RepositoryUrl", Value: { Length: > 0 } url })
            {
                return url.TrimEnd('/');
            }
        }

        return string.Empty; // built without RepositoryUrl: links relative to the repository root (a test guards against it)
    }

    private static DiagnosticDescriptor Create(string id, string title, string message, string category, DiagnosticSeverity severity = DiagnosticSeverity.Error)
        => new(id, title, message, category, severity, isEnabledByDefault: true, helpLinkUri: HelpLink(id));
}
