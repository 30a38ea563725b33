using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// The redis-server the integration tests run against: <c>CELERIAC_TEST_REDIS</c> (host:port), started by
/// build/test.sh. One multiplexer is shared by every test in the process; each test isolates itself with its own key
/// prefix (<see cref="NewPrefix"/>). When the variable is missing or the server is unreachable, every test that asks
/// for the connection fails with a message saying how to start one: these tests never skip silently.
/// </summary>
public static class RedisFixture
{
    public const string EnvironmentVariable = "CELERIAC_TEST_REDIS";

    private static readonly Lazy<Task<ConnectionMultiplexer>> Shared = new(ConnectAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The configured host:port, or a failure explaining how to provide one.</summary>
    public static string Configuration
    {
        get
        {
            string? value = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new InvalidOperationException(
                    $"{EnvironmentVariable} is not set, so these Redis integration tests cannot run. Run ./build/test.sh (it starts its own " +
                    $"redis-server), or start one yourself (redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes) " +
                    $"and export {EnvironmentVariable}=127.0.0.1:6391.");
            }

            return value.Trim();
        }
    }

    /// <summary>The shared multiplexer; fails the calling test when Redis is not reachable.</summary>
    public static Task<ConnectionMultiplexer> GetAsync() => Shared.Value;

    /// <summary>A key prefix unique to one test, so tests can run in parallel against one server.</summary>
    public static string NewPrefix() => "t-" + Guid.NewGuid().ToString("N")[..12];

    private static async Task<ConnectionMultiplexer> ConnectAsync()
    {
        string configuration = Configuration;
        ConfigurationOptions options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 3000;
        options.ClientName = "celeriac-tests";
        try
        {
            ConnectionMultiplexer multiplexer = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            await multiplexer.GetDatabase().PingAsync().ConfigureAwait(false);
            return multiplexer;
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException(
                $"Redis at {EnvironmentVariable}={configuration} is not reachable ({ex.GetType().Name}: {ex.Message}). Run ./build/test.sh " +
                $"(it starts its own redis-server), or start one (redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes) " +
                $"and export {EnvironmentVariable}=127.0.0.1:6391.", ex);
        }
    }
}
