using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// A redis-server that speaks only TLS (<c>--port 0 --tls-port P</c>) and requires a client certificate
/// (<c>--tls-auth-clients yes</c>). A test CA, a server certificate for <c>localhost</c>/127.0.0.1 and a client
/// certificate are made at start with <c>openssl</c> in a temporary directory. Disposing kills the server and deletes
/// the directory.
/// </summary>
public sealed class TlsRedisServer : IDisposable
{
    private RedisProcess? _process;

    private TlsRedisServer(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    public string CaCertificate => Path.Combine(Directory, "ca.crt");

    public string ClientCertificate => Path.Combine(Directory, "client.crt");

    public string ClientKey => Path.Combine(Directory, "client.key");

    /// <summary>The connection string; the CA and the client certificate are added with <see cref="Trust"/>.</summary>
    public string Configuration => $"127.0.0.1:{Port},ssl=true,sslHost=localhost";

    /// <summary>What an application puts in <see cref="CeleriacOptions.ConfigureRedis"/>: trust the test CA, present the client certificate.</summary>
    public void Trust(ConfigurationOptions options)
    {
        options.TrustIssuer(CaCertificate);
        options.SetUserPemCertificate(ClientCertificate, ClientKey);
    }

    public static async Task<TlsRedisServer> StartAsync(ITestOutputHelper output)
    {
        if (!File.Exists("/usr/bin/openssl") && !ExistsOnPath("openssl"))
        {
            throw new InvalidOperationException("openssl is not installed; the TLS tests make their certificates with it (apt-get install openssl).");
        }

        string dir = System.IO.Directory.CreateTempSubdirectory("celeriac-tls-").FullName;
        var server = new TlsRedisServer(dir, RedisProcess.FreePort());
        try
        {
            var clock = Stopwatch.StartNew();
            await server.MakeCertificatesAsync();
            long certsMs = clock.ElapsedMilliseconds;
            server._process = RedisProcess.Start("tls-redis", [
                "--port", "0", "--tls-port", server.Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                "--tls-cert-file", Path.Combine(dir, "server.crt"), "--tls-key-file", Path.Combine(dir, "server.key"),
                "--tls-ca-cert-file", server.CaCertificate, "--tls-auth-clients", "yes",
                "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"]);
            await server.WaitForPingAsync();
            output.WriteLine($"[{DateTime.Now:HH:mm:ss.fff}] TLS redis-server pid {server._process.Pid} on 127.0.0.1:{server.Port} (no plain port, client certificates required); certificates made in {certsMs} ms, ready after {clock.ElapsedMilliseconds} ms");
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static bool ExistsOnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, name)));

    private async Task MakeCertificatesAsync()
    {
        string Ec(string name) => Path.Combine(Directory, name);
        await File.WriteAllTextAsync(Ec("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        await File.WriteAllTextAsync(Ec("client.ext"), "extendedKeyUsage=clientAuth\n");
        await OpenSslAsync("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", Ec("ca.key"), "-out", Ec("ca.crt"), "-days", "2", "-subj", "/CN=Celeriac Test CA");
        foreach (string who in (string[])["server", "client"])
        {
            await OpenSslAsync("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", Ec(who + ".key"), "-out", Ec(who + ".csr"), "-subj", who == "server" ? "/CN=localhost" : "/CN=celeriac-test-client");
            await OpenSslAsync("x509", "-req", "-in", Ec(who + ".csr"), "-CA", Ec("ca.crt"), "-CAkey", Ec("ca.key"), "-CAcreateserial", "-out", Ec(who + ".crt"), "-days", "2", "-extfile", Ec(who + ".ext"));
        }
    }

    private async Task OpenSslAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Directory };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start openssl.");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        _ = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(" ", arguments)} failed ({process.ExitCode}): {await stderr}");
        }
    }

    private async Task WaitForPingAsync()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var options = ConfigurationOptions.Parse(Configuration);
                options.ConnectTimeout = 1000;
                Trust(options);
                await using ConnectionMultiplexer probe = await ConnectionMultiplexer.ConnectAsync(options);
                await probe.GetDatabase().PingAsync();
                return;
            }
            catch (RedisException) when (clock.Elapsed < TimeSpan.FromSeconds(15) && _process is { HasExited: false })
            {
                await Task.Delay(50);
            }
            catch (RedisException ex)
            {
                throw new InvalidOperationException($"The TLS redis-server did not answer: {ex.Message}. Its output:\n{_process?.Output}", ex);
            }
        }
    }
}
