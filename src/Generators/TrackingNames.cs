namespace Celeriac.Generators;

/// <summary>Names of the pipeline steps, for incremental-caching tests.</summary>
public static class TrackingNames
{
    public const string CompilationFacts = nameof(CompilationFacts);
    public const string ParsedTasks = nameof(ParsedTasks);
    public const string TaskDiagnostics = nameof(TaskDiagnostics);
    public const string TaskStubs = nameof(TaskStubs);
    public const string RegistryItems = nameof(RegistryItems);
    public const string TaskNames = nameof(TaskNames);
    public const string DuplicateNameDiagnostics = nameof(DuplicateNameDiagnostics);
    public const string AssemblyModel = nameof(AssemblyModel);
    public const string QueueDeclarations = nameof(QueueDeclarations);
    public const string RouteDeclarations = nameof(RouteDeclarations);
    public const string RoutingDeclarations = nameof(RoutingDeclarations);
    public const string RouteTable = nameof(RouteTable);
    public const string RoutingDiagnostics = nameof(RoutingDiagnostics);
    public const string RoutedTasks = nameof(RoutedTasks);
    public const string PeriodicWithoutTask = nameof(PeriodicWithoutTask);
}
