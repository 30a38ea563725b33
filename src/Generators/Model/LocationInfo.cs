using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Celeriac.Generators.Model;

/// <summary>
/// A source position stored as plain values, so models never keep a <see cref="Location"/> (and with it a syntax tree
/// and compilation) alive. Immutable, with structural equality.
/// </summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static LocationInfo? From(Location? location)
        => location is null || location.SourceTree is null
            ? null
            : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);

    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}
