using System.Diagnostics.CodeAnalysis;
using System.Security.Authentication;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>The settings every connection is made from, and a clear refusal of credentials or TLS settings that cannot work.</summary>
internal sealed partial class RedisBroker
{
    /// <summary>
    /// The settings every connection of a broker is cloned from: <see cref="CeleriacOptions.Redis"/> parsed (or empty),
    /// then <see cref="CeleriacOptions.ConfigureRedis"/>, then Celeriac's own two settings.
    /// </summary>
    /// <param name="options">The options.</param>
    /// <returns>The settings.</returns>
    internal static ConfigurationOptions CreateConfiguration(CeleriacOptions options)
    {
        ConfigurationOptions config;
        if (options.Redis is { Length: > 0 } configuration)
        {
            try
            {
                config = ConfigurationOptions.Parse(configuration);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException)
            {
                throw new InvalidOperationException($"Celeriac:Redis is not a valid StackExchange.Redis configuration string: {ex.Message}", ex);
            }
        }
        else if (options.ConfigureRedis is not null)
        {
            config = new ConfigurationOptions();
        }
        else
        {
            throw new InvalidOperationException("Celeriac:Redis is not set; the Redis broker needs a StackExchange.Redis configuration string such as 'localhost:6379'.");
        }

        options.ConfigureRedis?.Invoke(config);
        if (config.EndPoints.Count == 0)
        {
            throw new InvalidOperationException($"The Redis configuration '{config.ToString(includePassword: false)}' names no endpoint; set Celeriac:Redis to host:port (Sentinel: the sentinels' host:port and serviceName=...).");
        }

        config.AbortOnConnectFail = false; // keep reconnecting after later outages and failovers
        // A command for a node that is down fails at once instead of waiting (up to the async timeout) in the client's
        // backlog: every caller already retries (the worker's loops with back-off; a send surfaces as
        // BrokerUnavailableException), and under Cluster the retry reaches the promoted replica as soon as the client
        // sees the new topology, instead of stalling every queue's fetch and every outcome write behind the dead node.
        config.BacklogPolicy = BacklogPolicy.FailFast;
        config.ClientName ??= "celeriac";
        return config;
    }

    /// <summary>
    /// Credentials or a TLS handshake refused. The message carries the server's reply and no inner exception: this is a
    /// configuration to fix, not a stack to read. The password is never part of it.
    /// </summary>
    [DoesNotReturn]
    private static void ThrowRefused(ConfigurationOptions config, string endpoints, RedisConnectionException ex)
    {
        string where = config.ServiceName is { Length: > 0 } service ? $"{endpoints} (Sentinel service '{service}')" : endpoints;
        if (ex.InnerException is AuthenticationException tls)
        {
            throw new InvalidOperationException(
                $"Could not connect to Redis at {where}: the TLS handshake failed ({tls.Message}). Check sslHost in Celeriac:Redis, "
                + "and trust the server's certificate authority (CeleriacOptions.ConfigureRedis: CertificateValidation) or give a client certificate (CertificateSelection).");
        }

        string user = config.User is { Length: > 0 } name ? $"user '{name}'" : "the default user";
        string password = config.Password is { Length: > 0 } ? "a password (not shown)" : "no password";
        string reply = ex.InnerException?.Message ?? ex.Message;
        throw new InvalidOperationException(
            $"Redis at {where} refused the credentials: {user} with {password}. The server said: {reply}. "
            + "Check user= and password= in Celeriac:Redis (for Sentinel, sentinels may need their own: SentinelUser, SentinelPassword).");
    }
}
