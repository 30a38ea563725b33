using Celeriac.Generators.Model;

namespace Celeriac.Generators.Emit;

/// <summary>The write and read expressions of one value, shared by the argument formatters and the type formatters.</summary>
internal static class CodecWriter
{
    public static string Write(TypeRefModel type, string resolverFqn, string value, string writer = "writer", string options = "options")
        => type.Codec switch
        {
            CodecKind.Direct => writer + ".Write(" + value + ");",
            CodecKind.UserFormatter => resolverFqn + "." + type.FormatterName + ".Instance.Serialize(ref " + writer + ", " + value + ", " + options + ");",
            _ => KnownNames.GetFormatterWithVerify + "<" + type.FormatterTypeArgument + ">(" + options + ".Resolver).Serialize(ref " + writer + ", " + value + ", " + options + ");",
        };

    /// <summary>The read expression; its type is nullable for reference types (no <c>!</c> added).</summary>
    public static string Read(TypeRefModel type, string resolverFqn, string reader = "reader", string options = "options")
        => type.Codec switch
        {
            CodecKind.Direct => reader + "." + type.DirectRead + "()",
            CodecKind.UserFormatter => resolverFqn + "." + type.FormatterName + ".Instance.Deserialize(ref " + reader + ", " + options + ")",
            _ => KnownNames.GetFormatterWithVerify + "<" + type.FormatterTypeArgument + ">(" + options + ".Resolver).Deserialize(ref " + reader + ", " + options + ")",
        };

    /// <summary>The read expression typed as the declaration: non-nullable references get a <c>!</c>.</summary>
    public static string ReadAsDeclared(TypeRefModel type, string resolverFqn, string reader = "reader", string options = "options")
        => Read(type, resolverFqn, reader, options) + (type.IsNonNullableReference ? "!" : string.Empty);
}
