using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>The first connection: the settings from the options, and a clear refusal of settings that cannot work.</summary>
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

        config.AbortOnConnectFail = false; // keep reconnecting: Redis may come up after the worker, or fail over
        config.ClientName ??= "celeriac";
        return config;
    }

    /// <summary>
    /// Connects. The first attempt gives up on failure so that its reason can be read: refused credentials or TLS and
    /// an unresolvable host name end here, with a message; anything else (Redis not up yet) gets a multiplexer that
    /// keeps reconnecting in the background.
    /// </summary>
    private static async Task<ConnectionMultiplexer> ConnectMultiplexerAsync(ConfigurationOptions config, string shown, CancellationToken cancellationToken)
    {
        ConfigurationOptions first = config.Clone();
        first.AbortOnConnectFail = true;
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(first).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex) when (ex.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            ThrowRefused(config, ex);
        }
        catch (RedisConnectionException)
        {
            if (await FindUnresolvableHostAsync(config, cancellationToken).ConfigureAwait(false) is { } host)
            {
                throw new InvalidOperationException($"Could not connect to Redis at {Endpoints(config)}: the host name '{host}' does not resolve. Check Celeriac:Redis.");
            }

            // Not up yet, or not reachable from here yet: keep trying in the background.
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidOperationException($"Could not connect to Redis with configuration '{shown}' (Celeriac:Redis): {ex.Message}", ex);
        }

        try
        {
            return await ConnectionMultiplexer.ConnectAsync(config.Clone()).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidOperationException($"Could not connect to Redis with configuration '{shown}' (Celeriac:Redis): {ex.Message}", ex);
        }
    }

    private static async Task<string?> FindUnresolvableHostAsync(ConfigurationOptions config, CancellationToken cancellationToken)
    {
        foreach (EndPoint endpoint in config.EndPoints)
        {
            if (endpoint is DnsEndPoint dns)
            {
                try
                {
                    _ = await Dns.GetHostAddressesAsync(dns.Host, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    return dns.Host;
                }
            }
        }

        return null;
    }

    private static string Endpoints(ConfigurationOptions config)
    {
        string endpoints = string.Join(",", config.EndPoints.Select(EndPointCollection.ToString));
        return config.ServiceName is { Length: > 0 } service ? $"{endpoints} (Sentinel service '{service}')" : endpoints;
    }

    /// <summary>
    /// Credentials or a TLS handshake refused. The message carries the server's reply and no inner exception: this is a
    /// configuration to fix, not a stack to read. The password is never part of it.
    /// </summary>
    [DoesNotReturn]
    private static void ThrowRefused(ConfigurationOptions config, RedisConnectionException ex)
    {
        if (ex.InnerException is AuthenticationException tls)
        {
            throw new InvalidOperationException(
                $"Could not connect to Redis at {Endpoints(config)}: the TLS handshake failed ({tls.Message}). Check sslHost in Celeriac:Redis, "
                + "and trust the server's certificate authority (CeleriacOptions.ConfigureRedis: CertificateValidation) or give a client certificate (CertificateSelection).");
        }

        string user = config.User is { Length: > 0 } name ? $"user '{name}'" : "the default user";
        string password = config.Password is { Length: > 0 } ? "a password (not shown)" : "no password";
        string reply = ex.InnerException?.Message ?? ex.Message;
        throw new InvalidOperationException(
            $"Redis at {Endpoints(config)} refused the credentials: {user} with {password}. The server said: {reply}. "
            + "Check user= and password= in Celeriac:Redis (for Sentinel, sentinels may need their own: SentinelUser, SentinelPassword).");
    }
}
