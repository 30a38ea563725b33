using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Celeriac.Brokers;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// The Redis implementation of <see cref="ITaskBroker"/>: per-queue lists, sorted sets and message hashes changed by
/// Lua scripts, results in hashes with a TTL, completion published on a channel. The layout and every script's
/// contract are in docs/protocol.md.
/// </summary>
/// <remarks>
/// Two connections: the shared multiplexer for every ordinary command, and a dedicated one, opened on the first
/// blocking fetch, used only for <c>BLPOP</c> (a blocking command on the shared multiplexer would stall every command
/// queued behind it). Fetches are meant to come from one fetch loop per broker: concurrent blocking fetches queue
/// behind each other on the dedicated connection.
/// </remarks>
internal sealed partial class RedisBroker : ITaskBroker
{
    /// <summary>The longest single blocking wait; a longer <see cref="FetchRequest.MaxWait"/> returns 0 after this and the caller loops.</summary>
    internal static readonly TimeSpan MaxBlockingWait = TimeSpan.FromSeconds(30);

    /// <summary>The async timeout of the blocking connection: comfortably above <see cref="MaxBlockingWait"/>.</summary>
    internal static readonly TimeSpan BlockingAsyncTimeout = MaxBlockingWait + TimeSpan.FromSeconds(15);

    private static readonly TimeSpan MinBlockingWait = TimeSpan.FromMilliseconds(10);

    /// <summary>How late Redis may end a blocking wait (it checks timeouts at its <c>hz</c>, 10 per second by default).</summary>
    private static readonly TimeSpan ServerTimerSlack = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan BlockingFailureBackoff = TimeSpan.FromMilliseconds(250);

    private readonly IConnectionMultiplexer _multiplexer;
    private readonly bool _ownsMultiplexer;
    private readonly ConfigurationOptions? _configuration;
    private readonly IDatabase _db;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly int _maxMessageBytes;

    /// <summary>The TTL of the FAILURE record the fetch script writes for a message it sets aside as corrupt (<see cref="CeleriacOptions.ResultTtl"/>).</summary>
    private readonly long _corruptResultTtlMs;
    private readonly SemaphoreSlim _blockingGate = new(1, 1);
    private readonly string _tokenPrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private ConnectionMultiplexer? _blocking;
    private long _tokenSequence;
    private int _disposed;

    /// <summary>Creates a broker over an existing multiplexer (tests, tools).</summary>
    /// <param name="multiplexer">The shared multiplexer.</param>
    /// <param name="options">Key prefix and other settings.</param>
    /// <param name="logger">Where to log.</param>
    /// <param name="time">The clock; "now" in every script argument comes from it.</param>
    /// <param name="ownsMultiplexer">Whether <see cref="DisposeAsync"/> closes <paramref name="multiplexer"/> too.</param>
    /// <param name="configuration">
    /// The settings <paramref name="multiplexer"/> was made from, cloned for the blocking connection (so TLS callbacks and
    /// Sentinel service names carry over); <see langword="null"/> re-parses <see cref="IConnectionMultiplexer.Configuration"/>.
    /// </param>
    public RedisBroker(IConnectionMultiplexer multiplexer, CeleriacOptions options, ILogger logger, TimeProvider time, bool ownsMultiplexer = false, ConfigurationOptions? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        ArgumentNullException.ThrowIfNull(options);
        _multiplexer = multiplexer;
        _ownsMultiplexer = ownsMultiplexer;
        _configuration = configuration;
        _db = multiplexer.GetDatabase();
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        Keys = new RedisKeys(options.KeyPrefix);
        _maxMessageBytes = options.MaxMessageBytes;
        _corruptResultTtlMs = Math.Max(1, (long)options.ResultTtl.TotalMilliseconds);
        _multiplexer.ConnectionFailed += OnConnectionFailed;
        _multiplexer.ConnectionRestored += OnConnectionRestored;
    }

    /// <summary>
    /// How every script is sent: to the master, never to a replica. Each script reads before it writes, and most are
    /// fenced by a lease, a claim or a count. StackExchange.Redis's default (<see cref="CommandFlags.PreferMaster"/>)
    /// sends a command to a replica while no master is known, as during a Sentinel failover; there a fenced script reads
    /// older state and answers "not yours" or "nothing to do" without reaching the write that would have failed with
    /// READONLY, so outcomes were dropped and their tasks rerun (SentinelFailoverTests). Without a master the call fails
    /// instead, and its caller's retry waits for the new one.
    /// </summary>
    private const CommandFlags ScriptFlags = CommandFlags.DemandMaster;

    /// <summary>Runs <paramref name="script"/> on the master (<see cref="ScriptFlags"/>).</summary>
    private Task<RedisResult> Eval(string script, RedisKey[] keys, RedisValue[]? args = null) => _db.ScriptEvaluateAsync(script, keys, args, ScriptFlags);

    /// <inheritdoc />
    public string Name => "redis";

    /// <summary>The shared multiplexer (tests and tools).</summary>
    internal IConnectionMultiplexer Multiplexer => _multiplexer;

    /// <summary>The key builder (tests and tools).</summary>
    internal RedisKeys Keys { get; }

    /// <summary>
    /// Connects to the Redis named by <see cref="CeleriacOptions.Redis"/> and <see cref="CeleriacOptions.ConfigureRedis"/>.
    /// The first connection must succeed within the configuration's <c>connectTimeout</c> (StackExchange.Redis default
    /// 5 s): a wrong address, an unknown host, a server that does not answer, refused credentials or a refused TLS
    /// handshake fail here with a short message saying so (naming the address and the user, never the password),
    /// instead of a client that looks connected and fails its first send. Once connected, the connection is kept up
    /// through later outages (commands fail while Redis is away and the client reconnects in the background).
    /// </summary>
    /// <param name="options">The options; <see cref="CeleriacOptions.Redis"/> or <see cref="CeleriacOptions.ConfigureRedis"/> must be set.</param>
    /// <param name="logger">Where to log.</param>
    /// <param name="time">The clock.</param>
    /// <param name="cancellationToken">Stops waiting for the first connection attempt.</param>
    /// <returns>The connected broker.</returns>
    public static async Task<RedisBroker> ConnectAsync(CeleriacOptions options, ILogger logger, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ConfigurationOptions config = CreateConfiguration(options);
        string shown = config.ToString(includePassword: false);
        string endpoints = string.Join(", ", config.EndPoints.Select(Format));

        // The first attempt gives up on failure so that its reason can be read (refused credentials or TLS); the
        // multiplexer it makes still reconnects after later outages.
        ConfigurationOptions first = config.Clone();
        first.AbortOnConnectFail = true;
        ConnectionMultiplexer multiplexer;
        Task<ConnectionMultiplexer>? connecting = null;
        try
        {
            connecting = ConnectionMultiplexer.ConnectAsync(first);
            // ConnectAsync returns after the first attempt or connectTimeout; the margin only guards against a hang.
            TimeSpan bound = TimeSpan.FromMilliseconds(config.ConnectTimeout) + TimeSpan.FromSeconds(2);
            multiplexer = await connecting.WaitAsync(bound, time, cancellationToken).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex) when (ex.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            // StackExchange.Redis also files a TLS handshake that was cut short or never answered under
            // AuthenticationFailure: with TLS on and no TLS reason given, our own handshake tells the two apart.
            if (config.Ssl && ex.InnerException is not System.Security.Authentication.AuthenticationException)
            {
                await ThrowIfTlsRefusedAsync(config, endpoints, customTrust: options.ConfigureRedis is not null, cancellationToken).ConfigureAwait(false);
            }

            ThrowRefused(config, endpoints, ex);
            throw;
        }
        catch (Exception ex)
        {
            // Given up on: a multiplexer that still comes later must not stay open, reconnecting, with nobody owning it.
            _ = connecting?.ContinueWith(static c => c.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            if (ex is OperationCanceledException)
            {
                throw;
            }

            await ThrowIfTlsRefusedAsync(config, endpoints, customTrust: options.ConfigureRedis is not null, cancellationToken).ConfigureAwait(false);
            await ThrowIfAuthRefusedAsync(config, endpoints, cancellationToken).ConfigureAwait(false);
            throw new InvalidOperationException(
                $"Could not connect to Redis at {endpoints} (Celeriac:Redis): {await DescribeFailureAsync(config, ex is TimeoutException).ConfigureAwait(false)} "
                + "No connection was made, so nothing was sent. " + WhatToCheck,
                ex);
        }

        if (!multiplexer.IsConnected)
        {
            await multiplexer.DisposeAsync().ConfigureAwait(false);
            await ThrowIfTlsRefusedAsync(config, endpoints, customTrust: options.ConfigureRedis is not null, cancellationToken).ConfigureAwait(false);
            await ThrowIfAuthRefusedAsync(config, endpoints, cancellationToken).ConfigureAwait(false);
            throw new InvalidOperationException(
                $"Could not connect to Redis at {endpoints} (Celeriac:Redis): {await DescribeFailureAsync(config, timedOut: false).ConfigureAwait(false)} "
                + "No connection was made, so nothing was sent. " + WhatToCheck);
        }

        RedisLog.Connected(logger, shown, options.KeyPrefix);
        return new RedisBroker(multiplexer, options, logger, time, ownsMultiplexer: true, configuration: config);
    }

    private const string WhatToCheck = "Check that redis-server is running there and reachable from this machine, and that the host, port, password and ssl settings of Celeriac:Redis are right.";

    private static string Format(System.Net.EndPoint endPoint) => endPoint switch
    {
        System.Net.DnsEndPoint dns => dns.Host + ":" + dns.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => endPoint.ToString() ?? "?",
    };

    /// <summary>Why the first connection failed, in one sentence: a host name that does not resolve, or no server answering in time.</summary>
    private static async Task<string> DescribeFailureAsync(ConfigurationOptions config, bool timedOut)
    {
        foreach (System.Net.EndPoint endPoint in config.EndPoints)
        {
            if (endPoint is System.Net.DnsEndPoint dns)
            {
                try
                {
                    _ = await System.Net.Dns.GetHostAddressesAsync(dns.Host).ConfigureAwait(false);
                }
                catch (System.Net.Sockets.SocketException)
                {
                    return $"the host name '{dns.Host}' does not resolve (unknown host).";
                }
            }
        }

        return timedOut
            ? $"no server answered within the connect timeout ({config.ConnectTimeout} ms)."
            : $"no Redis server accepted the connection (refused, unreachable, or a server that refuses these credentials; connect timeout {config.ConnectTimeout} ms).";
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _multiplexer.ConnectionFailed -= OnConnectionFailed;
        _multiplexer.ConnectionRestored -= OnConnectionRestored;
        ConnectionMultiplexer? blocking = Interlocked.Exchange(ref _blocking, null);
        if (blocking is not null)
        {
            await blocking.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            await blocking.DisposeAsync().ConfigureAwait(false);
        }

        await CloseSlotWaitersAsync().ConfigureAwait(false);
        if (_ownsMultiplexer)
        {
            await _multiplexer.CloseAsync(allowCommandsToComplete: true).ConfigureAwait(false);
            await _multiplexer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private static long Ms(TimeSpan span) => Math.Max(1, (long)Math.Ceiling(span.TotalMilliseconds));

    private string NextTokenSuffix() => _tokenPrefix + Interlocked.Increment(ref _tokenSequence).ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        RedisLog.ConnectionFailed(_logger, e.Exception, e.FailureType.ToString(), e.EndPoint?.ToString() ?? "?");
        RaiseReplyFloor(); // replies may be lost from now until the connection is back
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        RedisLog.ConnectionRestored(_logger, e.EndPoint?.ToString() ?? "?");
        RaiseReplyFloor();
        WakeReplyWaiters();
    }

    [DoesNotReturn]
    private static void ThrowIdInUse(string id, string queue)
        => throw new InvalidOperationException($"A task with id '{id}' is already stored in queue '{queue}'; task ids must be unique while a task is queued, scheduled, running or dead-lettered.");

    [DoesNotReturn]
    private static void ThrowUnexpectedReply(string script, string what)
        => throw new InvalidOperationException($"Unexpected reply from the {script} script: {what}");

    [DoesNotReturn]
    private static void ThrowUnexpectedReply(string script, RedisResult? reply)
        => throw new InvalidOperationException($"Unexpected reply from the {script} script: {reply?.Resp2Type.ToString() ?? "null"} {reply}");
}
