using System.Buffers.Binary;

namespace Celeriac.Protocol;

/// <summary>
/// Counts the MessagePack values of an argument payload before anything is decoded, without allocating and without
/// recursion, so that a payload whose decoded form would be far larger than its bytes (one empty list per byte, a
/// length header of 2³¹ elements) is refused before a formatter allocates for it. Every value counts as one element:
/// a scalar, a string, a binary, an array or a map header, and each map key. The formatters themselves cannot be the
/// place for this budget: collections are decoded by MessagePack's built-in formatters, which charge nothing.
/// </summary>
internal static class PayloadScan
{
    /// <summary>What <see cref="Scan"/> found.</summary>
    public enum Outcome
    {
        /// <summary>One complete value of at most the allowed elements.</summary>
        Ok,

        /// <summary>More elements than allowed.</summary>
        TooManyElements,

        /// <summary>The bytes end inside a value, or a header declares more elements than bytes remain.</summary>
        Truncated,

        /// <summary>A byte that starts no MessagePack value (0xc1).</summary>
        Invalid,
    }

    /// <summary>Scans one MessagePack value (the argument array) at the start of <paramref name="payload"/>.</summary>
    /// <param name="payload">The encoded argument list.</param>
    /// <param name="maxElements">The most elements allowed; 0 or less means no limit.</param>
    /// <param name="elements">How many elements were counted (up to the first problem).</param>
    public static Outcome Scan(ReadOnlySpan<byte> payload, int maxElements, out long elements)
    {
        long limit = maxElements > 0 ? maxElements : long.MaxValue;
        long pending = 1; // values still to read; never more than the bytes left (each value takes at least one byte)
        int at = 0;
        elements = 0;
        while (pending > 0)
        {
            if (at >= payload.Length)
            {
                return Outcome.Truncated;
            }

            byte code = payload[at++];
            pending--;
            if (++elements > limit)
            {
                return Outcome.TooManyElements;
            }

            long children = 0;
            long skip = 0;
            switch (code)
            {
                case <= 0x7f or >= 0xe0 or 0xc0 or 0xc2 or 0xc3:
                    break;
                case <= 0x8f:
                    children = 2L * (code & 0x0f);
                    break;
                case <= 0x9f:
                    children = code & 0x0f;
                    break;
                case <= 0xbf:
                    skip = code & 0x1f;
                    break;
                case 0xc1:
                    return Outcome.Invalid;
                case 0xc4 or 0xd9:
                    skip = ReadLength(payload, ref at, 1);
                    break;
                case 0xc5 or 0xda:
                    skip = ReadLength(payload, ref at, 2);
                    break;
                case 0xc6 or 0xdb:
                    skip = ReadLength(payload, ref at, 4);
                    break;
                case 0xc7:
                    skip = ExtLength(ReadLength(payload, ref at, 1));
                    break;
                case 0xc8:
                    skip = ExtLength(ReadLength(payload, ref at, 2));
                    break;
                case 0xc9:
                    skip = ExtLength(ReadLength(payload, ref at, 4));
                    break;
                case 0xca or 0xce or 0xd2:
                    skip = 4;
                    break;
                case 0xcb or 0xcf or 0xd3:
                    skip = 8;
                    break;
                case 0xcc or 0xd0:
                    skip = 1;
                    break;
                case 0xcd or 0xd1:
                    skip = 2;
                    break;
                case 0xd4:
                    skip = 2;
                    break;
                case 0xd5:
                    skip = 3;
                    break;
                case 0xd6:
                    skip = 5;
                    break;
                case 0xd7:
                    skip = 9;
                    break;
                case 0xd8:
                    skip = 17;
                    break;
                case 0xdc:
                    children = ReadLength(payload, ref at, 2);
                    break;
                case 0xdd:
                    children = ReadLength(payload, ref at, 4);
                    break;
                case 0xde:
                    children = 2 * ReadLength(payload, ref at, 2);
                    break;
                default: // 0xdf
                    children = 2 * ReadLength(payload, ref at, 4);
                    break;
            }

            if (skip < 0 || children < 0 || skip > payload.Length - at)
            {
                return Outcome.Truncated;
            }

            at += (int)skip;
            pending += children;
            if (pending > payload.Length - at)
            {
                return Outcome.Truncated;
            }
        }

        return Outcome.Ok;
    }

    /// <summary>A sentence for a dead-letter reason or an exception: what the scan found.</summary>
    public static string Describe(Outcome outcome, long elements, int maxElements) => outcome switch
    {
        Outcome.TooManyElements => $"the arguments hold more than {maxElements} elements (Celeriac:MaxMessageElements)",
        Outcome.Truncated => $"the arguments are truncated or declare more elements than they have bytes (after {elements} elements)",
        Outcome.Invalid => $"the arguments hold a byte that starts no MessagePack value (after {elements} elements)",
        _ => "the arguments are well-formed",
    };

    /// <summary>An extension's bytes after its length: the type byte and the data; -1 stays -1 (truncated).</summary>
    private static long ExtLength(long length) => length < 0 ? -1 : length + 1;

    /// <summary>Reads a big-endian length of <paramref name="size"/> bytes; -1 when the bytes end first.</summary>
    private static long ReadLength(ReadOnlySpan<byte> payload, ref int at, int size)
    {
        if (payload.Length - at < size)
        {
            at = payload.Length;
            return -1;
        }

        long value = size switch
        {
            1 => payload[at],
            2 => BinaryPrimitives.ReadUInt16BigEndian(payload[at..]),
            _ => BinaryPrimitives.ReadUInt32BigEndian(payload[at..]),
        };
        at += size;
        return value;
    }
}
