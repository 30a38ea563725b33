namespace Celeriac;

/// <summary>
/// A queue name checked by the compiler: the generator emits one per declared queue
/// (<c>Celeriac.Generated.{Assembly}.Queues.Billing</c>), so a per-call override through
/// <see cref="TaskOptions.QueueName"/> cannot name a queue that was not declared. The explicit constructor exists for
/// names only known at run time; it validates the characters but cannot know the declarations.
/// </summary>
public readonly struct QueueName : IEquatable<QueueName>
{
    /// <summary>The longest queue name.</summary>
    public const int MaxLength = QueueNameRules.MaxLength;

    private readonly string? _value;

    /// <summary>Creates a queue name, validating its characters.</summary>
    /// <param name="value">ASCII letters, digits, '.', '_', '-' and ':' (no '{' or '}': the name is the Redis Cluster hash tag); 1 to <see cref="MaxLength"/> characters.</param>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not a valid queue name.</exception>
    public QueueName(string value)
    {
        if (Validate(value) is { } problem)
        {
            throw new ArgumentException($"'{value}' is not a valid queue name: {problem}.", nameof(value));
        }

        _value = value;
    }

    /// <summary>The default queue.</summary>
    public static QueueName Default { get; } = new(TaskAttribute.DefaultQueue);

    /// <summary>The name; <see cref="TaskAttribute.DefaultQueue"/> for <c>default(QueueName)</c>.</summary>
    public string Value => _value ?? TaskAttribute.DefaultQueue;

    /// <summary>Compares two names ordinally.</summary>
    /// <param name="left">A name.</param>
    /// <param name="right">Another name.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(QueueName left, QueueName right) => left.Equals(right);

    /// <summary>Compares two names ordinally.</summary>
    /// <param name="left">A name.</param>
    /// <param name="right">Another name.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(QueueName left, QueueName right) => !left.Equals(right);

    /// <summary>Returns why <paramref name="value"/> is not a valid queue name, or <see langword="null"/> when it is.</summary>
    /// <param name="value">A candidate name.</param>
    /// <returns>The problem, or <see langword="null"/>.</returns>
    public static string? Validate(string? value) => QueueNameRules.Validate(value);

    /// <inheritdoc/>
    public bool Equals(QueueName other) => string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is QueueName other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <inheritdoc/>
    public override string ToString() => Value;
}
