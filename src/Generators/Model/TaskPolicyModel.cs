using Celeriac.Generators.Helpers;

namespace Celeriac.Generators.Model;

/// <summary>
/// A task's retry and time policy as parsed from <c>[Task]</c>: durations already in invariant milliseconds, exception
/// filters as fully qualified type names. Immutable, with structural equality. <see langword="null"/> members are unset.
/// </summary>
/// <param name="RetryBackoffMs">The first retry delay in milliseconds (invariant literal), or null for the runtime default.</param>
/// <param name="RetryBackoffMaxMs">The longest retry delay in milliseconds, or null.</param>
/// <param name="RetryJitter">Whether delays are jittered (the runtime default is true).</param>
/// <param name="RetryOn">Exception types that are retried (empty: all).</param>
/// <param name="DontRetryOn">Exception types that are never retried.</param>
/// <param name="TimeLimitMs">The hard time limit in milliseconds, or null.</param>
/// <param name="SoftTimeLimitMs">The soft time limit in milliseconds, or null.</param>
internal sealed record TaskPolicyModel(
    int MaxRetries,
    string? RetryBackoffMs,
    string? RetryBackoffMaxMs,
    bool RetryJitter,
    EquatableArray<string> RetryOn,
    EquatableArray<string> DontRetryOn,
    bool DeadLetterOnFailure,
    string? TimeLimitMs,
    string? SoftTimeLimitMs,
    int Execution = 0,
    string? RateLimitIntervalMs = null)
{
    public static readonly TaskPolicyModel Default = new(0, null, null, true, EquatableArray<string>.Empty, EquatableArray<string>.Empty, false, null, null);

    public bool IsDefault => Equals(Default);
}
