
namespace Celeriac.Worker;

internal sealed partial class CeleriacWorker
{
    /// <summary>One run's cancellation: worker shutdown, revoke, or the soft time limit.</summary>
    private sealed class RunControl : IDisposable
    {
        private readonly CancellationTokenSource _cts;
        private volatile bool _revoked;
        private volatile bool _softLimitHit;
        private Timer? _softTimer;

        public RunControl(CancellationToken shutdown) => _cts = CancellationTokenSource.CreateLinkedTokenSource(shutdown);

        public CancellationToken Token => _cts.Token;

        public bool Revoked
        {
            get => _revoked;
            set => _revoked = value;
        }

        public bool SoftLimitHit => _softLimitHit;

        public void StartSoftLimit(TimeSpan after)
            => _softTimer = new Timer(static s => ((RunControl)s!).OnSoftLimit(), this, after, Timeout.InfiniteTimeSpan);

        public void Cancel()
        {
            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The run already ended.
            }
        }

        public void Dispose()
        {
            _softTimer?.Dispose();
            _cts.Dispose();
        }

        private void OnSoftLimit()
        {
            _softLimitHit = true;
            Cancel();
        }
    }
}
