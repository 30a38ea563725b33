using System.Buffers;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Protocol;
using Celeriac.TestTasks;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.HostileInput;

/// <summary>
/// Arguments that decode but that the task cannot have been written for — a nil or missing member of a record that
/// may not be null, an enum value the enum does not define — are set aside as undecodable arguments, naming what is
/// wrong, instead of reaching the task's code.
/// </summary>
public sealed class ArgumentShapeTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task Nil_or_missing_record_members_and_undefined_enum_values_are_dead_lettered_naming_them()
    {
        _ = await RedisFixture.GetAsync();
        IHost host = await TestHost.StartAsync(output, "worker", RedisFixture.Configuration, RedisFixture.NewPrefix(), new MemoryLedger());
        _hosts.Add(host);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        ITaskBroker broker = await host.Services.GetRequiredService<BrokerProvider>().GetAsync(default);

        var cases = new Dictionary<string, (string Task, byte[] Args, string Expected)>
        {
            ["nil-nested-member"] = (Hostile.WeighTask.Name, Basket(parcelName: null), "Member 'Name' of 'Celeriac.TestTasks.Parcel' is null but is not nullable"),
            ["nil-member"] = (Hostile.WeighTask.Name, Basket(label: null), "Member 'Label' of 'Celeriac.TestTasks.Basket' is null but is not nullable"),
            ["missing-member"] = (Hostile.WeighTask.Name, Basket(members: 3), "Member 'Parcel' of 'Celeriac.TestTasks.Basket' is missing (the message has 3 members)"),
            ["undefined-enum-member"] = (Hostile.WeighTask.Name, Basket(tier: 7), "Value 7 is not defined by enum 'Celeriac.TestTasks.Tier'"),
            ["undefined-enum-argument"] = (Hostile.EchoTask.Name, Write((ref MessagePackWriter w) => { w.WriteArrayHeader(2); w.Write("x"); w.Write(-1); }), "Value -1 is not defined by enum 'Celeriac.TestTasks.Tier'"),
        };
        await broker.EnqueueAsync([.. cases.Select(c => new EnqueueItem(c.Key, "default", Envelope(c.Key, c.Value.Task, c.Value.Args), 0))], default);

        foreach ((string id, (_, _, string expected)) in cases)
        {
            TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => new TaskHandle(client, id).WaitAsync(Timeout));
            output.WriteLine($"{id}: {failure.RemoteType}: {failure.RemoteMessage}");
            Assert.Equal("Celeriac.UndecodableArguments", failure.RemoteType);
            Assert.Contains(expected, failure.RemoteMessage, StringComparison.Ordinal);
        }

        IReadOnlyList<DeadLetter> letters = await broker.GetDeadLettersAsync("default", 100, default);
        Assert.Equal(cases.Count, letters.Count);
        Assert.All(letters, l => Assert.StartsWith("undecodable-args: ", l.Reason, StringComparison.Ordinal));

        // The same shapes, valid, run; a [Flags]-free enum's defined values all pass.
        Assert.Equal("5|Gold|3|7|2", await (await Hostile.WeighTask.DelayAsync(client, new Basket("label", Tier.Gold, [[1, 2], [3]], new Parcel("abc", 4), new() { ["a"] = 1, ["b"] = 2 }))).GetAsync(Timeout));
        Assert.Equal("1:Bronze", await (await Hostile.EchoTask.DelayAsync(client, "x", Tier.Bronze)).GetAsync(Timeout));
    }

    private static byte[] Basket(string? label = "label", int tier = 1, string? parcelName = "parcel", int members = 5) => Write((ref MessagePackWriter w) =>
    {
        w.WriteArrayHeader(1);
        w.WriteArrayHeader(members);
        w.Write(label);
        w.Write(tier);
        w.WriteArrayHeader(1);
        w.WriteArrayHeader(0);
        if (members > 3)
        {
            w.WriteArrayHeader(2);
            w.Write(parcelName);
            w.Write(1);
        }

        if (members > 4)
        {
            w.WriteNil();
        }
    });

    private static byte[] Write(WriteAction write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private delegate void WriteAction(ref MessagePackWriter writer);

    private static byte[] Envelope(string id, string task, byte[] args) => EnvelopeCodec.Encode(new Envelope
    {
        Id = id,
        Task = task,
        Args = args,
        Queue = "default",
        RootId = id,
        CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
    });
}
