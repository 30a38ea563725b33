using Celeriac.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Celeriac.RuntimeUnitTests;

/// <summary>How <see cref="CeleriacOptions.Redis"/> and <see cref="CeleriacOptions.ConfigureRedis"/> become the settings every connection is cloned from. No Redis needed.</summary>
public sealed class RedisConfigurationUnitTests(ITestOutputHelper output)
{
    private const string SentinelString = "sentinel-1:26379,sentinel-2:26379,serviceName=mymaster,user=app,password=s3cret,ssl=true,sslHost=redis.example.com";

    [Fact]
    public void A_connection_string_bound_from_configuration_keeps_every_part()
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Celeriac:Redis"] = SentinelString, ["Celeriac:KeyPrefix"] = "app" })
            .Build();
        var services = new ServiceCollection();
        services.AddCeleriac(configuration.GetSection("Celeriac"));
        CeleriacOptions options = services.BuildServiceProvider().GetRequiredService<IOptions<CeleriacOptions>>().Value;

        ConfigurationOptions config = RedisBroker.CreateConfiguration(options);
        output.WriteLine($"bound: {config.ToString(includePassword: false)}");
        Assert.Equal(SentinelString, options.Redis);
        Assert.Null(options.ConfigureRedis);
        Assert.Equal(["sentinel-1:26379", "sentinel-2:26379"], config.EndPoints.Select(EndPointCollection.ToString));
        Assert.Equal("mymaster", config.ServiceName);
        Assert.Equal("app", config.User);
        Assert.Equal("s3cret", config.Password);
        Assert.True(config.Ssl);
        Assert.Equal("redis.example.com", config.SslHost);
        Assert.False(config.AbortOnConnectFail);
        Assert.Equal("celeriac", config.ClientName);
    }

    [Fact]
    public void ConfigureRedis_runs_after_the_string_and_may_supply_everything()
    {
        ConfigurationOptions adjusted = RedisBroker.CreateConfiguration(new CeleriacOptions
        {
            Redis = "localhost:6379,password=from-string",
            ConfigureRedis = c =>
            {
                c.Password = "from-secret-store";
                c.ClientName = "billing-worker";
            },
        });
        ConfigurationOptions codeOnly = RedisBroker.CreateConfiguration(new CeleriacOptions { ConfigureRedis = c => c.EndPoints.Add("redis.internal", 6380) });
        output.WriteLine($"adjusted: {adjusted.ToString(includePassword: false)}; code only: {codeOnly.ToString(includePassword: false)}");
        Assert.Equal("from-secret-store", adjusted.Password);
        Assert.Equal("billing-worker", adjusted.ClientName);
        Assert.Equal("redis.internal:6380", EndPointCollection.ToString(Assert.Single(codeOnly.EndPoints)));
        Assert.True(new CeleriacOptions { ConfigureRedis = _ => { } }.UsesRedis, "ConfigureRedis alone selects the Redis broker");
    }

    [Fact]
    public void Settings_that_name_no_server_or_do_not_parse_are_refused_with_the_setting_named()
    {
        InvalidOperationException empty = Assert.Throws<InvalidOperationException>(() => RedisBroker.CreateConfiguration(new CeleriacOptions { ConfigureRedis = c => c.Password = "x" }));
        InvalidOperationException garbled = Assert.Throws<InvalidOperationException>(() => RedisBroker.CreateConfiguration(new CeleriacOptions { Redis = "localhost,nonsense=1" }));
        output.WriteLine($"{empty.Message}\n{garbled.Message}");
        Assert.Contains("names no endpoint", empty.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("password=x", empty.Message, StringComparison.Ordinal);
        Assert.Contains("Celeriac:Redis is not a valid StackExchange.Redis configuration string", garbled.Message, StringComparison.Ordinal);
    }
}
