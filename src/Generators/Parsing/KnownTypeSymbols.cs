using Microsoft.CodeAnalysis;

namespace Celeriac.Generators.Parsing;

/// <summary>The framework and Celeriac types the parser compares against, resolved once per transform.</summary>
internal sealed class KnownTypeSymbols
{
    public const string TaskAttribute = "Celeriac.TaskAttribute";
    public const string TaskAssemblyAttribute = "Celeriac.TaskAssemblyAttribute";
    public const string TaskContext = "Celeriac.TaskContext";
    public const string TaskClient = "Celeriac.ITaskClient";

    public KnownTypeSymbols(Compilation compilation)
    {
        Compilation = compilation;
        TaskAttributeType = compilation.GetTypeByMetadataName(TaskAttribute);
        TaskContextType = compilation.GetTypeByMetadataName(TaskContext);
        TaskClientType = compilation.GetTypeByMetadataName(TaskClient);
        CancellationToken = compilation.GetTypeByMetadataName("System.Threading.CancellationToken");
        Task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task");
        TaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1");
        ValueTask = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask");
        ValueTaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1");
        AsyncEnumerable = compilation.GetTypeByMetadataName("System.Collections.Generic.IAsyncEnumerable`1");
        Nullable = compilation.GetSpecialType(SpecialType.System_Nullable_T);
        Exception = compilation.GetTypeByMetadataName("System.Exception");
    }

    public Compilation Compilation { get; }

    public INamedTypeSymbol? TaskAttributeType { get; }

    public INamedTypeSymbol? TaskContextType { get; }

    public INamedTypeSymbol? TaskClientType { get; }

    public INamedTypeSymbol? CancellationToken { get; }

    public INamedTypeSymbol? Task { get; }

    public INamedTypeSymbol? TaskOfT { get; }

    public INamedTypeSymbol? ValueTask { get; }

    public INamedTypeSymbol? ValueTaskOfT { get; }

    public INamedTypeSymbol? AsyncEnumerable { get; }

    public INamedTypeSymbol Nullable { get; }

    public INamedTypeSymbol? Exception { get; }

    public bool HasCeleriac => TaskContextType is not null && TaskClientType is not null;

    public static bool Is(ITypeSymbol? type, INamedTypeSymbol? known)
        => known is not null && type is not null && SymbolEqualityComparer.Default.Equals(type, known);

    public static bool IsConstructedFrom(ITypeSymbol? type, INamedTypeSymbol? definition)
        => definition is not null && type is INamedTypeSymbol { IsGenericType: true } named
            && SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, definition);
}
