using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace Celeriac.Generators.Helpers;

internal static class NameHelper
{
    /// <summary>FNV-1a over UTF-16 code units: stable across processes and runtimes, unlike string.GetHashCode.</summary>
    public static uint Fnv1a(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }

    public static string ShortHash(string text) => Fnv1a(text).ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>Assembly name as an identifier segment: every non-identifier character becomes '_'.</summary>
    public static string SanitizeAssemblyName(string assemblyName)
    {
        var sb = new StringBuilder(assemblyName.Length + 1);
        if (assemblyName.Length == 0 || char.IsDigit(assemblyName[0]))
        {
            sb.Append('_');
        }

        foreach (char c in assemblyName)
        {
            sb.Append(IsAsciiIdentifierChar(c) ? c : '_');
        }

        return sb.ToString();
    }

    /// <summary>
    /// A type's fully qualified name as an identifier, injectively: '_' doubles, '.' becomes '_', anything else becomes
    /// '_x{hex}_'. Two different types never map to the same formatter name.
    /// </summary>
    public static string SanitizeTypeName(string fullyQualifiedName)
    {
        string name = fullyQualifiedName.StartsWith("global::", System.StringComparison.Ordinal)
            ? fullyQualifiedName.Substring("global::".Length)
            : fullyQualifiedName;
        var sb = new StringBuilder(name.Length + 8);
        foreach (char c in name)
        {
            if (c == '_')
            {
                sb.Append("__");
            }
            else if (c == '.')
            {
                sb.Append('_');
            }
            else if (c == ' ')
            {
                continue;
            }
            else if (IsAsciiIdentifierChar(c))
            {
                sb.Append(c);
            }
            else
            {
                sb.Append("_x").Append(((int)c).ToString("X", CultureInfo.InvariantCulture)).Append('_');
            }
        }

        return sb.ToString();
    }

    /// <summary>A hint-name segment (file-name safe); collisions are disambiguated by the hash that follows it.</summary>
    public static string SanitizeHintSegment(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            sb.Append(IsAsciiIdentifierChar(c) || c == '.' ? c : '_');
        }

        return sb.ToString();
    }

    public static string EscapeIdentifier(string identifier)
        => SyntaxFacts.GetKeywordKind(identifier) != SyntaxKind.None ? "@" + identifier : identifier;

    public static string ToLiteral(string value)
        => SymbolDisplay.FormatLiteral(value, quote: true);

    public static string ToInvariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static string ToInvariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static bool IsAsciiIdentifierChar(char c)
        => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
