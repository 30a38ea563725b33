using MessagePack;
using MessagePack.Formatters;

namespace Celeriac;

/// <summary>The result type of tasks that return no value (<c>void</c>, <c>Task</c>, <c>ValueTask</c>); encoded as nil.</summary>
public readonly struct Nothing : IEquatable<Nothing>
{
    /// <summary>The only value.</summary>
    public static Nothing Value => default;

    /// <inheritdoc/>
    public bool Equals(Nothing other) => true;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Nothing;

    /// <inheritdoc/>
    public override int GetHashCode() => 0;

    /// <summary>Always true.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">Another value.</param>
    /// <returns><see langword="true"/>.</returns>
    public static bool operator ==(Nothing left, Nothing right) => true;

    /// <summary>Always false.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">Another value.</param>
    /// <returns><see langword="false"/>.</returns>
    public static bool operator !=(Nothing left, Nothing right) => false;
}

/// <summary>Writes <see cref="Nothing"/> as nil and skips whatever value it reads.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)] // used by generated code
public sealed class NothingFormatter : IMessagePackFormatter<Nothing>
{
    /// <summary>The shared instance.</summary>
    public static readonly NothingFormatter Instance = new();

    /// <inheritdoc/>
    public void Serialize(ref MessagePackWriter writer, Nothing value, MessagePackSerializerOptions options) => writer.WriteNil();

    /// <inheritdoc/>
    public Nothing Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        reader.Skip();
        return default;
    }
}
