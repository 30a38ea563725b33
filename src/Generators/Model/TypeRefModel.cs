namespace Celeriac.Generators.Model;

/// <summary>How generated code writes and reads a value of a type.</summary>
internal enum CodecKind
{
    /// <summary><c>writer.Write(x)</c> / <c>reader.ReadXxx()</c>: the primitives MessagePackWriter has overloads for.</summary>
    Direct,

    /// <summary>A formatter generated into the resolver for a user type (object or enum).</summary>
    UserFormatter,

    /// <summary>Through <c>GetFormatterWithVerify&lt;T&gt;(options.Resolver)</c>: built-ins and generic collections.</summary>
    Resolver,
}

/// <summary>
/// A use of a type in generated code: its spellings and its codec. Immutable, with structural equality.
/// </summary>
/// <param name="Fqn">The declaration spelling with <c>global::</c> and nullable annotations (<c>string?</c> when nullable).</param>
/// <param name="FormatterTypeArgument">The spelling used as <c>T</c> of a formatter (reference types always annotated).</param>
/// <param name="IsNonNullableReference">A reference type declared non-nullable: reads need a null check or a <c>!</c>.</param>
/// <param name="Codec">How values are written and read.</param>
/// <param name="DirectRead">For <see cref="CodecKind.Direct"/>, the reader method (<c>ReadInt32</c>).</param>
/// <param name="FormatterName">For <see cref="CodecKind.UserFormatter"/>, the formatter class nested in the resolver.</param>
internal sealed record TypeRefModel(
    string Fqn,
    string FormatterTypeArgument,
    bool IsNonNullableReference,
    CodecKind Codec,
    string? DirectRead,
    string? FormatterName);
