namespace Celeriac.Protocol;

/// <summary>
/// Bounded quotes of strings a message brought (task names, ids, decoder messages): a reason, a log line or a result
/// record never carries more than <see cref="MaxChars"/> characters of any of them, however long the original.
/// </summary>
internal static class Quote
{
    /// <summary>The most characters of one attacker-controlled string that a reason, log line or result record holds.</summary>
    public const int MaxChars = 256;

    /// <summary>The most characters of a whole dead-letter reason's detail.</summary>
    public const int MaxDetailChars = 1024;

    /// <summary><paramref name="text"/> itself when it is short enough, else its first <paramref name="max"/> characters and how long it was.</summary>
    public static string Bounded(string text, int max = MaxChars)
        => text.Length <= max ? text : string.Concat(text.AsSpan(0, char.IsHighSurrogate(text[max - 1]) ? max - 1 : max), $"… ({text.Length} chars)");

    /// <summary>Likewise; <see langword="null"/> stays <see langword="null"/>.</summary>
    public static string? BoundedOrNull(string? text, int max = MaxChars) => text is null ? null : Bounded(text, max);
}
