using System.ComponentModel.DataAnnotations;

namespace Celeriac;

/// <summary>
/// Options shared by clients and workers: where the broker is and how results are kept. Bind from configuration
/// (section <c>Celeriac</c>) or set in code; validated when the host starts.
/// </summary>
public sealed class CeleriacOptions
{
    /// <summary>The default key prefix.</summary>
    public const string DefaultKeyPrefix = "celeriac";

    /// <summary>The default result time-to-live: one day.</summary>
    public static readonly TimeSpan DefaultResultTtl = TimeSpan.FromDays(1);

    /// <summary>The default visibility timeout (lease): 60 seconds, renewed by the worker's heartbeat while a task runs.</summary>
    public static readonly TimeSpan DefaultVisibilityTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The default time a revocation is kept: 7 days (it must outlive the longest ETA or retry delay of the tasks it targets).</summary>
    public static readonly TimeSpan DefaultRevokeTtl = TimeSpan.FromDays(7);

    /// <summary>
    /// A StackExchange.Redis configuration string: <c>localhost:6379</c>; several endpoints
    /// (<c>redis-a:6379,redis-b:6379</c>); Sentinel (<c>sentinel-1:26379,sentinel-2:26379,serviceName=mymaster</c>);
    /// AUTH and ACL users (<c>user=app,password=...</c>); TLS (<c>ssl=true,sslHost=redis.example.com</c>). Every
    /// connection Celeriac opens (the shared one and the worker's blocking one) uses it. <see langword="null"/> or empty,
    /// with no <see cref="ConfigureRedis"/>, selects the in-process broker, which keeps everything in this process's
    /// memory (tests, tools, the Quickstart). See docs/deployment.md.
    /// </summary>
    public string? Redis { get; set; }

    /// <summary>
    /// Adjusts the StackExchange.Redis <see cref="StackExchange.Redis.ConfigurationOptions"/> parsed from <see cref="Redis"/>
    /// (an empty one when <see cref="Redis"/> is not set) before Celeriac connects: what a string cannot say, such as
    /// <see cref="StackExchange.Redis.ConfigurationOptions.CertificateValidation"/> to trust a private CA,
    /// <see cref="StackExchange.Redis.ConfigurationOptions.CertificateSelection"/> or
    /// <see cref="StackExchange.Redis.ConfigurationOptions.SetUserPemCertificate"/> for a client certificate, or a
    /// password read from a secret store. Called once per broker; every connection is a clone of the result.
    /// Celeriac then sets only <see cref="StackExchange.Redis.ConfigurationOptions.AbortOnConnectFail"/> (it keeps
    /// reconnecting) and, when unset, <see cref="StackExchange.Redis.ConfigurationOptions.ClientName"/>. Setting it
    /// selects the Redis broker. Code only: not read from configuration. Default <see langword="null"/>.
    /// </summary>
    public Action<StackExchange.Redis.ConfigurationOptions>? ConfigureRedis { get; set; }

    /// <summary>The prefix of every Redis key and channel, so several applications can share one Redis. Default <c>celeriac</c>.</summary>
    [RegularExpression("^[A-Za-z0-9_.:-]{1,64}$", ErrorMessage = "Celeriac:KeyPrefix must be 1-64 characters of letters, digits, '_', '.', ':' or '-'.")]
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    /// <summary>How long a final result is kept. Default one day. Must be positive.</summary>
    public TimeSpan ResultTtl { get; set; } = DefaultResultTtl;

    /// <summary>
    /// How long a fetched task stays leased to its worker without a heartbeat before any worker may take it back
    /// (it is the recovery time after a worker dies). Running tasks renew it every third of this. Default 60 s; at least 1 s.
    /// </summary>
    public TimeSpan VisibilityTimeout { get; set; } = DefaultVisibilityTimeout;

    /// <summary>
    /// How long a revocation (<see cref="CeleriacClient.RevokeAsync"/>) is remembered by the broker: a revoked task that
    /// is fetched before this has passed is recorded REVOKED and not run. Default 7 days. Must be positive.
    /// </summary>
    public TimeSpan RevokeTtl { get; set; } = DefaultRevokeTtl;

    /// <summary>The default <see cref="MaxMessageElements"/>: 1,048,576.</summary>
    public const int DefaultMaxMessageElements = 1024 * 1024;

    /// <summary>
    /// The largest encoded message a client sends or a worker accepts, in bytes. Default 16 MiB; 0 means no limit. A
    /// worker refuses a larger message by its length (dead letter <c>oversized</c>): the broker hands it only a prefix
    /// of it, and it is never decoded. With <see cref="MaxMessageElements"/> it bounds a worker's memory (docs/reliability.md).
    /// </summary>
    [Range(0, int.MaxValue)]
    public int MaxMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// The most MessagePack values (each scalar, string, array, map header and map key counts one) a message's
    /// arguments may hold. A client refuses to send more; a worker counts them before decoding anything and sets a
    /// message with more aside (dead letter <c>undecodable-args</c>), so that a payload whose decoded form is far larger
    /// than its bytes (one empty list per byte) cannot exhaust its memory. Default 1,048,576; 0 means no limit.
    /// </summary>
    [Range(0, int.MaxValue)]
    public int MaxMessageElements { get; set; } = DefaultMaxMessageElements;

    /// <summary>The default of <see cref="EventStreamLength"/>.</summary>
    public const int DefaultEventStreamLength = 10_000;

    /// <summary>
    /// About how many task events the event stream keeps (the newest; Redis trims with <c>MAXLEN ~</c>, so a few more may
    /// stay): how far back a monitor that reconnects can catch up. Default 10,000; between 100 and 10,000,000.
    /// </summary>
    public int EventStreamLength { get; set; } = DefaultEventStreamLength;

    /// <summary>Whether the Redis broker is selected: <see cref="Redis"/> or <see cref="ConfigureRedis"/> is set.</summary>
    internal bool UsesRedis => Redis is { Length: > 0 } || ConfigureRedis is not null;

    /// <summary>Validates the values that attributes cannot express; returns the first problem, or <see langword="null"/>.</summary>
    /// <returns>A message naming the offending setting, or <see langword="null"/> when the options are valid.</returns>
    public string? Validate()
    {
        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 64 || !KeyPrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '-'))
        {
            return "Celeriac:KeyPrefix must be 1-64 characters of letters, digits, '_', '.', ':' or '-'.";
        }

        if (ResultTtl <= TimeSpan.Zero)
        {
            return $"Celeriac:ResultTtl must be positive (it is {ResultTtl}).";
        }

        if (VisibilityTimeout < TimeSpan.FromSeconds(1))
        {
            return $"Celeriac:VisibilityTimeout must be at least 1 second (it is {VisibilityTimeout}).";
        }

        if (RevokeTtl <= TimeSpan.Zero)
        {
            return $"Celeriac:RevokeTtl must be positive (it is {RevokeTtl}).";
        }

        if (MaxMessageBytes < 0)
        {
            return $"Celeriac:MaxMessageBytes must be 0 (no limit) or positive (it is {MaxMessageBytes}).";
        }

        if (EventStreamLength is < 100 or > 10_000_000)
        {
            return $"Celeriac:EventStreamLength must be between 100 and 10,000,000 (it is {EventStreamLength}).";
        }

        if (MaxMessageElements < 0)
        {
            return $"Celeriac:MaxMessageElements must be 0 (no limit) or positive (it is {MaxMessageElements}).";
        }

        return null;
    }
}
