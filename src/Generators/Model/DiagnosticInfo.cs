using Celeriac.Generators.Helpers;
using Microsoft.CodeAnalysis;

namespace Celeriac.Generators.Model;

/// <summary>
/// A diagnostic to report, kept apart from the generation models so a moved method does not regenerate code.
/// Immutable, with structural equality (descriptors are singletons; arguments are display strings).
/// </summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params string[] arguments)
        => new(descriptor, LocationInfo.From(location), arguments.ToEquatableArray());

    public Diagnostic ToDiagnostic() => ToDiagnostic(Location?.ToLocation());

    public Diagnostic ToDiagnostic(Location? location)
    {
        object[] args = new object[Arguments.Length];
        for (int i = 0; i < args.Length; i++)
        {
            args[i] = Arguments[i];
        }

        return Diagnostic.Create(Descriptor, location, args);
    }
}
