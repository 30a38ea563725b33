using Celeriac.Worker;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.RuntimeUnitTests;

/// <summary>A consumer's run cancellation, reused from run to run: revoke, soft limit and shutdown, on a fake clock.</summary>
public sealed class RunControlUnitTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly RunControl _run;

    public RunControlUnitTests() => _run = new RunControl(_shutdown.Token, _time);

    public void Dispose()
    {
        _run.Dispose();
        _shutdown.Dispose();
    }

    [Fact]
    public void The_soft_limit_cancels_the_run_when_it_passes_and_not_before()
    {
        _run.Begin();
        _run.StartSoftLimit(TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(_run.Token.IsCancellationRequested);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(_run.Token.IsCancellationRequested);
        Assert.True(_run.SoftLimitHit);
        Assert.False(_run.Revoked);
    }

    [Fact]
    public void The_soft_limit_of_a_run_that_ended_does_not_reach_the_next_run()
    {
        _run.Begin();
        _run.StartSoftLimit(TimeSpan.FromSeconds(1));
        _run.End();
        _run.Begin();
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(_run.Token.IsCancellationRequested);
        Assert.False(_run.SoftLimitHit);
    }

    [Fact]
    public void A_revoke_reaches_the_run_it_names_and_no_other()
    {
        _run.Begin();
        int first = _run.Generation;
        _run.End();
        _run.Begin();
        _run.Revoke(first); // aimed at the run that ended
        Assert.False(_run.Token.IsCancellationRequested);
        Assert.False(_run.Revoked);

        _run.Revoke(_run.Generation);
        Assert.True(_run.Token.IsCancellationRequested);
        Assert.True(_run.Revoked);
        Assert.False(_run.SoftLimitHit);
    }

    [Fact]
    public void After_a_cancelled_run_the_next_run_starts_with_a_fresh_token_and_cleared_flags()
    {
        _run.Begin();
        CancellationToken cancelled = _run.Token;
        _run.Revoke(_run.Generation);
        _run.End();
        Assert.True(_run.Revoked); // readable after the run ended

        _run.Begin();
        Assert.True(cancelled.IsCancellationRequested);
        Assert.False(_run.Token.IsCancellationRequested);
        Assert.NotEqual(cancelled, _run.Token);
        Assert.False(_run.Revoked);
        Assert.False(_run.SoftLimitHit);
    }

    [Fact]
    public void A_run_that_was_not_cancelled_leaves_its_source_for_the_next_run()
    {
        _run.Begin();
        CancellationToken first = _run.Token;
        _run.End();
        _run.Begin();
        Assert.Equal(first, _run.Token); // reset, not replaced: no new source per run
    }

    [Fact]
    public void Shutdown_cancels_the_running_run_without_marking_it_revoked_or_timed_out()
    {
        _run.Begin();
        _shutdown.Cancel();
        Assert.True(_run.Token.IsCancellationRequested);
        Assert.False(_run.Revoked);
        Assert.False(_run.SoftLimitHit);
    }

    [Fact]
    public void Cancel_cancels_the_current_run_without_a_reason()
    {
        _run.Begin();
        _run.Cancel();
        Assert.True(_run.Token.IsCancellationRequested);
        Assert.False(_run.Revoked);
        Assert.False(_run.SoftLimitHit);
    }

    [Fact]
    public void A_revoke_from_a_cancellation_callback_of_the_run_does_not_deadlock_or_cancel_the_next_run()
    {
        _run.Begin();
        int generation = _run.Generation;
        // The task's callback ends the run and starts the next one on the cancelling thread, as a continuation may.
        _run.Token.Register(() =>
        {
            _run.End();
            _run.Begin();
        });
        _run.Revoke(generation);
        Assert.False(_run.Token.IsCancellationRequested);
        Assert.NotEqual(generation, _run.Generation);
    }
}
