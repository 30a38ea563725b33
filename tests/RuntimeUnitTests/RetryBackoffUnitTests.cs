using Celeriac.Worker;

namespace Celeriac.RuntimeUnitTests;

/// <summary>The retry delay the worker draws from a policy: capped exponential backoff, with full jitter when asked.</summary>
public sealed class RetryBackoffUnitTests
{
    [Fact]
    public void Without_jitter_the_delay_doubles_from_the_first_backoff_up_to_the_cap()
    {
        var policy = new TaskPolicy { RetryBackoff = TimeSpan.FromMilliseconds(100), RetryBackoffMax = TimeSpan.FromMilliseconds(500), RetryJitter = false };
        Assert.Equal([100, 200, 400, 500, 500], Enumerable.Range(1, 5).Select(r => CeleriacWorker.Backoff(policy, r).TotalMilliseconds));
    }

    [Fact]
    public void Full_jitter_draws_between_zero_and_the_backoff_and_spreads()
    {
        var policy = new TaskPolicy { RetryBackoff = TimeSpan.FromSeconds(1), RetryBackoffMax = TimeSpan.FromSeconds(4), RetryJitter = true };
        double[] delays = [.. Enumerable.Range(0, 2000).Select(_ => CeleriacWorker.Backoff(policy, 3).TotalMilliseconds)];
        Assert.All(delays, d => Assert.InRange(d, 0, 4000));
        Assert.InRange(delays.Average(), 1700, 2300); // uniform over [0, 4000]
        Assert.True(delays.Min() < 400 && delays.Max() > 3600, "full jitter must spread over the whole range");
    }
}
