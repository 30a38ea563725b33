using Celeriac.Redis;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The result record's bytes (docs/protocol.md §5), pinned as written out by hand from the documented layout rather than
/// produced by the code under test: another process (a Celery bridge, a dashboard in another language, the fetch
/// script's own FAILURE record) reads and writes these bytes, so a change to them is a protocol change.
/// </summary>
public sealed class ResultRecordBytesUnitTests
{
    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    [Fact]
    public void A_success_record_is_the_documented_eleven_element_array()
    {
        var result = new TaskResult { State = TaskState.Success, TaskName = "t", Retries = 1, Timestamp = At, Worker = "w", Value = new byte[] { 0x05 } };
        byte[] expected =
        [
            0x9b,                                                  // array of 11
            0x01,                                                  // version 1
            0xa3, (byte)'a', (byte)'b', (byte)'c',                 // id "abc"
            0xa7, .. "SUCCESS"u8,                                  // state
            0xa1, (byte)'t',                                       // task
            0x01,                                                  // retries
            0xcf, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,  // date_done 1,700,000,000,000 ms (uint64)
            0xa1, (byte)'w',                                       // worker
            0xc4, 0x01, 0x05,                                      // value: bin 8 holding the encoded return value 5
            0xc0, 0xc0, 0xc0,                                      // exc_type, exc_message, traceback: nil
        ];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(RedisResultCodec.Encode("abc", result, At)));
    }

    [Fact]
    public void A_failure_record_carries_the_error_in_its_last_three_elements()
    {
        var result = new TaskResult { State = TaskState.Failure, Timestamp = At, Error = new TaskError("E", "m", null) };
        byte[] expected =
        [
            0x9b, 0x01, 0xa1, (byte)'x', 0xa7, .. "FAILURE"u8,
            0xc0,                                                  // task: nil
            0x00,                                                  // retries 0
            0xcf, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
            0xc0,                                                  // worker: nil
            0xc0,                                                  // value: nil
            0xa1, (byte)'E', 0xa1, (byte)'m', 0xc0,                // exc_type, exc_message, traceback (nil)
        ];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(RedisResultCodec.Encode("x", result, At)));
    }

    [Fact]
    public void A_record_with_other_integer_and_string_encodings_and_trailing_fields_is_read()
    {
        // As another writer may produce it: str8 strings, a uint32 retry count, an int64 date and a twelfth field.
        byte[] record =
        [
            0x9c, 0x01, 0xd9, 0x01, (byte)'z', 0xd9, 0x07, .. "FAILURE"u8, 0xc0, 0xce, 0x00, 0x00, 0x00, 0x02,
            0xd3, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0xc0, 0xc0,
            0xd9, 0x17, .. "Celeriac.CorruptMessage"u8, 0xa1, (byte)'r', 0xc0, 0xc3,
        ];
        TaskResult read = RedisResultCodec.Decode(record, out string? id);
        Assert.Equal("z", id);
        Assert.Equal(TaskState.Failure, read.State);
        Assert.Equal(2, read.Retries);
        Assert.Equal(At, read.Timestamp);
        Assert.Equal("Celeriac.CorruptMessage", read.Error?.Type);
        Assert.Equal("r", read.Error?.Message);
    }
}
