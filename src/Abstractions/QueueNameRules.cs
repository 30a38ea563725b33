namespace Celeriac;

/// <summary>
/// The one definition of a valid queue name and of the default queue. Compiled into Celeriac.Abstractions (used by
/// <see cref="QueueName"/>, <see cref="TaskCatalog"/>, the client and the worker options) and, as a linked source file,
/// into the generator (diagnostic CEL0207), so the compiler and the runtime cannot disagree. Written for netstandard2.0.
/// </summary>
internal static class QueueNameRules
{
    /// <summary>The queue of a task that names none.</summary>
    public const string DefaultQueue = "default";

    /// <summary>The longest queue name.</summary>
    public const int MaxLength = 100;

    /// <summary>Why <paramref name="name"/> is not a valid queue name, or <see langword="null"/> when it is.</summary>
    /// <param name="name">A candidate name.</param>
    /// <returns>The problem, phrased to follow "'x' is not a valid queue name: ", or <see langword="null"/>.</returns>
    public static string? Validate(string? name)
    {
        if (name is null || name.Length == 0)
        {
            return "it is empty";
        }

        if (name.Length > MaxLength)
        {
            return "it is longer than " + MaxLength.ToString(System.Globalization.CultureInfo.InvariantCulture) + " characters";
        }

        foreach (char c in name)
        {
            if (c is '{' or '}')
            {
                return "'{' and '}' are not allowed (the name is the Redis Cluster hash tag of the queue's keys, prefix:{queue}:…)";
            }

            if (!IsNameChar(c))
            {
                return "only ASCII letters, digits, '.', '_', '-' and ':' are allowed";
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="c"/> may occur in a queue name.</summary>
    /// <param name="c">A character.</param>
    /// <returns><see langword="true"/> for ASCII letters, digits, '.', '_', '-' and ':'.</returns>
    public static bool IsNameChar(char c)
        => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c is '.' or '_' or '-' or ':';
}
