namespace Celeriac.Worker;

/// <summary>
/// The order in which one fetch visits the worker's queues. Strict: always the listed order, so a later queue is
/// served only when the earlier ones are empty. Weighted: a fresh weighted random order per fetch (each queue comes
/// first with probability weight / total weight), so under load every queue gets its share and none starves.
/// </summary>
internal sealed class QueueSelector
{
    private readonly string[] _queues;
    private readonly double[] _weights;
    private readonly bool _weighted;
    private readonly Random _random;
    private readonly string[] _order;
    private readonly double[] _keys;

    public QueueSelector(IReadOnlyList<string> queues, QueueOrder order, IReadOnlyDictionary<string, int> weights, Random? random = null)
    {
        _queues = [.. queues];
        _weights = [.. _queues.Select(q => (double)(weights.TryGetValue(q, out int w) ? w : 1))];
        _weighted = order == QueueOrder.Weighted && _queues.Length > 1;
        _random = random ?? Random.Shared;
        _order = new string[_queues.Length];
        _keys = new double[_queues.Length];
    }

    /// <summary>The queues, in the configured order.</summary>
    public IReadOnlyList<string> Queues => _queues;

    /// <summary>How many queues.</summary>
    public int Count => _queues.Length;

    /// <summary>The queues for the next fetch. The returned list is reused by the next call (the fetch loop is single-threaded).</summary>
    public IReadOnlyList<string> Next()
    {
        if (!_weighted)
        {
            return _queues;
        }

        // Weighted sampling without replacement (Efraimidis–Spirakis): sort by u^(1/w) descending.
        for (int i = 0; i < _queues.Length; i++)
        {
            _keys[i] = -Math.Pow(_random.NextDouble(), 1.0 / _weights[i]);
            _order[i] = _queues[i];
        }

        Array.Sort(_keys, _order);
        return _order;
    }
}
