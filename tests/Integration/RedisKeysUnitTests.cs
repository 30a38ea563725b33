using Celeriac.Redis;

namespace Celeriac.IntegrationTests;

/// <summary>The key schema's promises for Redis Cluster (docs/protocol.md, "Key layout"), checked without a server.</summary>
public sealed class RedisKeysUnitTests
{
    [Theory]
    [InlineData("default")]
    [InlineData("billing.eu")]
    [InlineData("q:with:colons")]
    public void Every_key_a_queues_scripts_touch_hashes_to_one_slot(string queue)
    {
        var keys = new RedisKeys("celeriac");
        string[] all =
        [
            keys.Pending(queue)!, (string)keys.Pending(queue)! + ":9", keys.Active(queue)!, keys.Scheduled(queue)!, keys.Dead(queue)!,
            keys.Notify(queue)!, keys.Task(queue, "id-1")!, keys.TaskPrefix(queue) + "id-2", keys.Result(queue, "id-1")!,
            keys.ResultPrefix(queue) + "id-2", keys.Revoked(queue)!,
        ];
        int slot = Slot(all[0]);
        Assert.All(all, key => Assert.Equal(slot, Slot(key)));
    }

    [Theory]
    [InlineData("a{b")]
    [InlineData("a}b")]
    [InlineData("{x}")]
    public void A_queue_name_with_braces_is_refused(string queue)
    {
        var keys = new RedisKeys("celeriac");
        ArgumentException error = Assert.Throws<ArgumentException>(() => keys.Pending(queue));
        Assert.Contains(queue, error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => keys.Result(queue, "id"));
        Assert.Throws<ArgumentException>(() => keys.Revoked(queue));
    }

    /// <summary>Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag when there is one, mod 16384.</summary>
    private static int Slot(string key)
    {
        int open = key.IndexOf('{', StringComparison.Ordinal);
        if (open >= 0)
        {
            int close = key.IndexOf('}', open + 1);
            if (close > open + 1)
            {
                key = key[(open + 1)..close];
            }
        }

        ushort crc = 0;
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(key))
        {
            crc ^= (ushort)(b << 8);
            for (int i = 0; i < 8; i++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }
        }

        return crc % 16384;
    }
}
