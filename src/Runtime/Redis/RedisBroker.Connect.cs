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
    /// After a first connection that failed or timed out without a reason: when the configuration asks for TLS, one
    /// handshake of our own with the first endpoint says whether TLS is the cause. The reason StackExchange.Redis gives
    /// is not always there in time: on some machines its own handshake was still validating the certificate when the
    /// connect timeout ran out, so that the refusal read as "no server answered". The probe checks the server's
    /// certificate against this machine's trust store without a revocation check; with
    /// <see cref="CeleriacOptions.ConfigureRedis"/> set (which may install its own validation) it only reports a
    /// handshake that the server ends or that does not finish.
    /// </summary>
    /// <param name="config">The settings.</param>
    /// <param name="endpoints">The endpoints as shown.</param>
    /// <param name="customTrust">Whether the application may have installed its own certificate validation.</param>
    /// <param name="cancellationToken">Stops the probe.</param>
    /// <returns>A task that completes when TLS is not shown to be the cause.</returns>
    internal static async Task ThrowIfTlsRefusedAsync(ConfigurationOptions config, string endpoints, bool customTrust, CancellationToken cancellationToken)
    {
        if (!config.Ssl || config.EndPoints.Count == 0)
        {
            return;
        }

        if (ProbeTarget(config) is not (string host, int port) || port == 0)
        {
            return;
        }

        string? reason = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(ProbeTimeoutMs(config)));
        try
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            System.Net.Security.SslPolicyErrors errors = System.Net.Security.SslPolicyErrors.None;
            string chain = "";
            await using var tls = new System.Net.Security.SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, x509, policy) =>
            {
                errors = policy;
                chain = x509 is null ? "" : string.Join(", ", x509.ChainStatus.Select(static s => s.Status.ToString()).Distinct());
                return customTrust || policy == System.Net.Security.SslPolicyErrors.None;
            });
            var settings = new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = config.SslHost is { Length: > 0 } sslHost ? sslHost : host,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                EnabledSslProtocols = config.SslProtocols ?? SslProtocols.None,
            };
            try
            {
                await tls.AuthenticateAsClientAsync(settings, timeout.Token).ConfigureAwait(false);

                // Under TLS 1.3 a server that requires a client certificate refuses it after the handshake: one PING
                // shows whether it keeps the connection.
                await tls.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
                byte[] reply = new byte[64];
                if (await tls.ReadAsync(reply, timeout.Token).ConfigureAwait(false) == 0)
                {
                    reason = "the TLS handshake failed: the server closed the connection after it; it may require a client certificate (CertificateSelection)";
                }
            }
            catch (AuthenticationException) when (errors != System.Net.Security.SslPolicyErrors.None)
            {
                reason = $"the TLS handshake failed: this machine does not trust the server's certificate ({errors}{(chain.Length > 0 ? ": " + chain : "")})";
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException)
            {
                reason = $"the TLS handshake failed: the server ended it ({ex.Message}); it may require a client certificate (CertificateSelection)";
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            reason = $"the TLS handshake did not finish within {ProbeTimeoutMs(config)} ms (is the port a TLS port?)";
        }
        catch (System.Net.Sockets.SocketException)
        {
            return; // not a TLS matter: the caller describes the connection failure
        }

        if (reason is not null)
        {
            throw new InvalidOperationException(
                $"Could not connect to Redis at {endpoints}: {reason}. Check sslHost in Celeriac:Redis, "
                + "and trust the server's certificate authority (CeleriacOptions.ConfigureRedis: CertificateValidation) or give a client certificate (CertificateSelection).");
        }
    }

    /// <summary>
    /// After a first connection that failed or timed out without a reason, over plain TCP with a password configured: one
    /// <c>AUTH</c> of our own with the first endpoint says whether the credentials are the cause. StackExchange.Redis
    /// usually reports a refused <c>AUTH</c> at once, but in some runs its first attempt was still pending when the
    /// connect timeout ran out, and the refusal then read "no server answered".
    /// </summary>
    /// <param name="config">The settings.</param>
    /// <param name="endpoints">The endpoints as shown.</param>
    /// <param name="cancellationToken">Stops the probe.</param>
    /// <returns>A task that completes when the credentials are not shown to be the cause.</returns>
    internal static async Task ThrowIfAuthRefusedAsync(ConfigurationOptions config, string endpoints, CancellationToken cancellationToken)
    {
        if (config.Ssl || config.Password is not { Length: > 0 } password || config.EndPoints.Count == 0 || config.ServiceName is { Length: > 0 })
        {
            return;
        }

        if (ProbeTarget(config) is not (string host, int port) || port == 0)
        {
            return;
        }

        string reply;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(ProbeTimeoutMs(config)));
        try
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            System.Net.Sockets.NetworkStream stream = tcp.GetStream();
            string[] parts = config.User is { Length: > 0 } user ? ["AUTH", user, password] : ["AUTH", password];
            var command = new System.Text.StringBuilder().Append('*').Append(parts.Length).Append("\r\n");
            foreach (string part in parts)
            {
                command.Append('$').Append(System.Text.Encoding.UTF8.GetByteCount(part)).Append("\r\n").Append(part).Append("\r\n");
            }

            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(command.ToString()), timeout.Token).ConfigureAwait(false);
            byte[] buffer = new byte[512];
            int read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            reply = System.Text.Encoding.UTF8.GetString(buffer, 0, read).TrimEnd('\r', '\n');
        }
        catch (Exception ex) when (ex is OperationCanceledException or System.Net.Sockets.SocketException or IOException)
        {
            return; // not shown to be the credentials: the caller describes the connection failure
        }

        if (reply.StartsWith("-WRONGPASS", StringComparison.Ordinal) || reply.StartsWith("-ERR invalid password", StringComparison.Ordinal)
            || reply.StartsWith("-ERR AUTH", StringComparison.Ordinal) || reply.StartsWith("-NOPERM", StringComparison.Ordinal))
        {
            string who = config.User is { Length: > 0 } name ? $"user '{name}'" : "the default user";
            throw new InvalidOperationException(
                $"Redis at {endpoints} refused the credentials: {who} with a password (not shown). The server said: {reply[1..]}. "
                + "Check user= and password= in Celeriac:Redis (for Sentinel, sentinels may need their own: SentinelUser, SentinelPassword).");
        }
    }

    /// <summary>The host and port a diagnosing probe connects to: the first endpoint, or <see langword="null"/> when it has neither.</summary>
    private static (string Host, int Port)? ProbeTarget(ConfigurationOptions config) => config.EndPoints[0] switch
    {
        System.Net.DnsEndPoint dns => (dns.Host, dns.Port),
        System.Net.IPEndPoint ip => (ip.Address.ToString(), ip.Port),
        _ => null,
    };

    /// <summary>How long a diagnosing probe may take: the connect timeout, kept between 1 and 5 seconds.</summary>
    private static int ProbeTimeoutMs(ConfigurationOptions config) => Math.Clamp(config.ConnectTimeout, 1000, 5000);

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
