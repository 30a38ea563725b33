using Celeriac.TestTasks;
using MessagePack;

namespace Celeriac.Fuzz;

/// <summary>One message the fuzzer writes into a queue's keys, and the outcomes it may end in.</summary>
internal sealed class Input
{
    public required string Category;
    public required string Queue;
    public required byte[] Id;

    /// <summary>The message hash's fields as written (<c>msg</c>, and corrupt bookkeeping fields when the category writes them).</summary>
    public required List<(string Field, byte[] Value)> Fields;

    /// <summary>Put in <c>scheduled</c> (due now) instead of <c>pending</c>.</summary>
    public bool Scheduled;

    /// <summary>Outcomes allowed: SUCCESS, FAILURE, REVOKED, completed (no record under the id), or dead:&lt;reason code&gt;; empty = any documented outcome.</summary>
    public required string[] Allowed;

    public string IdText => System.Text.Encoding.UTF8.GetString(Id);
}

/// <summary>The categories: generation from the task signatures (valid and near-valid) and mutation of valid envelopes.</summary>
internal sealed class InputFactory(Random rng, int maxMessageBytes, int maxMessageElements, string runTag)
{
    private static readonly string[] Dead = ["dead:undecodable", "dead:unsupported-version", "dead:oversized", "dead:unknown-task", "dead:undecodable-args"];
    private static readonly string[] Anything = ["SUCCESS", "FAILURE", "REVOKED", "completed", .. Dead];
    private long _sequence;

    public static readonly (string Name, int Weight)[] Categories =
    [
        ("valid", 10), ("random-bytes", 8), ("truncated", 8), ("mutated", 12), ("wrong-version", 5), ("unknown-name", 6),
        ("wrong-shape", 8), ("length-bomb", 6), ("deep-nesting", 3), ("invalid-utf8", 6), ("extreme-time", 8),
        ("huge-headers", 3), ("element-bomb", 1), ("oversized", 1), ("record-members", 6), ("corrupt-hash", 4),
    ];

    public Input Next(IReadOnlySet<string> only)
    {
        int total = Categories.Where(c => only.Contains(c.Name)).Sum(c => c.Weight);
        int pick = rng.Next(total);
        foreach ((string name, int weight) in Categories)
        {
            if (!only.Contains(name))
            {
                continue;
            }

            if (pick < weight)
            {
                return Make(name);
            }

            pick -= weight;
        }

        throw new InvalidOperationException("unreachable");
    }

    public Input Make(string category) => category switch
    {
        "valid" => Valid(),
        "random-bytes" => Message(category, RandomBytes(rng.Next(0, 300)), ["dead:undecodable", "dead:unsupported-version"]),
        "truncated" => Truncated(),
        "mutated" => Mutated(),
        "wrong-version" => WrongVersion(),
        "unknown-name" => UnknownName(),
        "wrong-shape" => WrongShape(),
        "length-bomb" => LengthBomb(),
        "deep-nesting" => DeepNesting(),
        "invalid-utf8" => InvalidUtf8(),
        "extreme-time" => ExtremeTime(),
        "huge-headers" => HugeHeaders(),
        "element-bomb" => ElementBomb(),
        "oversized" => Oversized(),
        "record-members" => RecordMembers(),
        "corrupt-hash" => CorruptHash(),
        _ => throw new ArgumentException("unknown category " + category),
    };

    private byte[] NewId(string category) => Wire.Utf8($"fz-{runTag}-{category}-{_sequence++}");

    private Input Message(string category, byte[] msg, string[] allowed, byte[]? id = null, string queue = "default")
        => new() { Category = category, Queue = queue, Id = id ?? NewId(category), Fields = [("msg", msg)], Allowed = allowed };

    private Input FromSpec(string category, Func<byte[], EnvelopeSpec> spec, string[] allowed, string queue = "default")
    {
        byte[] id = NewId(category);
        return Message(category, spec(id).Encode(), allowed, id, queue);
    }

    private byte[] RandomBytes(int n)
    {
        var bytes = new byte[n];
        rng.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A valid envelope of one of the test tasks, and the outcome it must have.</summary>
    private (EnvelopeSpec Spec, string Outcome) ValidSpec(byte[] id)
    {
        int a = rng.Next(-1000, 1000), b = rng.Next(-1000, 1000);
        return rng.Next(4) switch
        {
            0 => (new EnvelopeSpec { Id = id, Task = Calc.AddTask.Name, Args = Wire.Array(a, b) }, "SUCCESS"),
            1 => (new EnvelopeSpec { Id = id, Task = Hostile.EchoTask.Name, Args = Wire.Array(new string('e', rng.Next(0, 100)), rng.Next(3)) }, "SUCCESS"),
            2 => (new EnvelopeSpec { Id = id, Task = Hostile.WeighTask.Name, Args = ValidBasket() }, "SUCCESS"),
            _ => (new EnvelopeSpec { Id = id, Task = Calc.FailTask.Name, Args = Wire.Array("fuzz") }, "FAILURE"),
        };
    }

    private byte[] ValidBasket()
    {
        var basket = new Basket("b" + rng.Next(100), (Tier)rng.Next(3), [[.. Enumerable.Range(0, rng.Next(5))], []], new Parcel("p", rng.Next(10)), rng.Next(2) == 0 ? null : new() { ["k"] = 1 });
        byte[] value = MessagePackSerializer.Serialize(basket, Celeriac.Generated.Celeriac_TestTasks.GeneratedResolver.Options);
        return [0x91, .. value];
    }

    private Input Valid()
    {
        byte[] id = NewId("valid");
        (EnvelopeSpec spec, string outcome) = ValidSpec(id);
        return Message("valid", spec.Encode(), [outcome], id);
    }

    private Input Truncated()
    {
        byte[] id = NewId("truncated");
        EnvelopeSpec spec = ValidSpec(id).Spec;
        if (rng.Next(3) == 0)
        {
            spec.DropFields = rng.Next(1, 13); // a well-formed array with fields missing at the end
            return Message("truncated", spec.Encode(), ["dead:undecodable"], id);
        }

        byte[] whole = spec.Encode();
        return Message("truncated", whole[..rng.Next(0, whole.Length)], ["dead:undecodable"], id);
    }

    private Input Mutated()
    {
        byte[] id = NewId("mutated");
        byte[] bytes = ValidSpec(id).Spec.Encode();
        var list = new List<byte>(bytes);
        int edits = rng.Next(1, 5);
        for (int e = 0; e < edits && list.Count > 0; e++)
        {
            int at = rng.Next(list.Count);
            switch (rng.Next(4))
            {
                case 0: list[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1: list[at] = (byte)rng.Next(256); break;
                case 2: list.Insert(at, (byte)rng.Next(256)); break;
                default: list.RemoveAt(at); break;
            }
        }

        return Message("mutated", [.. list], Anything, id);
    }

    private Input WrongVersion()
    {
        object?[] versions = [0, 2, 99, -1, int.MaxValue, long.MinValue];
        if (rng.Next(5) == 0)
        {
            return FromSpec("wrong-version", id => new EnvelopeSpec { Id = id, Version = rng.Next(2) == 0 ? "1" : null, Task = Calc.AddTask.Name, Args = Wire.Array(1, 2) }, ["dead:undecodable"]);
        }

        object? version = versions[rng.Next(versions.Length)];
        // A version that is no 32-bit integer cannot even be compared: undecodable.
        return FromSpec("wrong-version", id => new EnvelopeSpec { Id = id, Version = version, Task = Calc.AddTask.Name, Args = Wire.Array(1, 2) }, [version is long ? "dead:undecodable" : "dead:unsupported-version"]);
    }

    private Input UnknownName()
    {
        int length = rng.Next(4) == 0 ? rng.Next(1000, 200_000) : rng.Next(1, 80);
        byte[] name = RandomBytes(length);
        for (int i = 0; i < name.Length; i++)
        {
            name[i] = rng.Next(10) == 0 ? name[i] : (byte)('a' + (name[i] % 26)); // mostly letters, some bytes not UTF-8
        }

        return FromSpec("unknown-name", id => new EnvelopeSpec { Id = id, Task = name, Args = Wire.Array() }, ["dead:unknown-task"]);
    }

    private Input WrongShape()
    {
        byte[][] shapes =
        [
            Wire.Array("a"), Wire.Array(1), Wire.Array(1, 2, 3), [0xc0], [0x80], Wire.Array(1.5, "x"), Wire.Array(),
            Wire.Array(true, 1), Wire.Array(1L << 40, 1), [], [0x92, 0x01], Wire.Array(new Bin([1, 2]), 2),
        ];
        byte[] args = shapes[rng.Next(shapes.Length)];
        string task = rng.Next(2) == 0 ? Calc.AddTask.Name : Hostile.WeighTask.Name;
        return FromSpec("wrong-shape", id => new EnvelopeSpec { Id = id, Task = task, Args = args }, ["dead:undecodable-args"]);
    }

    private Input LengthBomb()
    {
        byte[][] bombs =
        [
            [0x91, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x00],               // an array claiming 2^31-1 elements
            [0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa0, 0x00],         // a map claiming 2^32-1 entries
            [0x92, 0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41, 0x01],         // a string claiming 2 GB
            [0x92, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01],         // a binary claiming 4 GB
            [0xdd, 0x00, 0x10, 0x00, 0x00, 0x01, 0x02],               // the argument list itself claiming 2^20
        ];
        if (rng.Next(3) == 0)
        {
            // In the envelope: a header map claiming 2^31-1 entries, or an id string claiming 2 GB.
            if (rng.Next(2) == 0)
            {
                return FromSpec("length-bomb", id => new EnvelopeSpec { Id = id, Task = Calc.AddTask.Name, Args = Wire.Array(1, 2), HeadersRaw = [0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa0] }, ["dead:undecodable"]);
            }

            return Message("length-bomb", [0x9d, 0x01, 0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41, 0x41], ["dead:undecodable"]);
        }

        byte[] args = bombs[rng.Next(bombs.Length)];
        return FromSpec("length-bomb", id => new EnvelopeSpec { Id = id, Task = rng.Next(2) == 0 ? Calc.AddTask.Name : Hostile.WeighTask.Name, Args = args }, ["dead:undecodable-args"]);
    }

    private Input DeepNesting()
    {
        int depth = rng.Next(3) == 0 ? rng.Next(10_000, 100_000) : rng.Next(100, 2_000);
        byte[] nested = [.. Enumerable.Repeat((byte)0x91, depth), 0x01];
        // Inside a basket's rows (a list of lists of int) or as Add's first argument.
        byte[] args = rng.Next(2) == 0
            ? [0x91, 0x95, 0xa1, (byte)'l', 0x00, 0x91, .. nested, 0x92, 0xa1, (byte)'p', 0x01, 0xc0]
            : [0x92, .. nested, 0x01];
        string task = args[1] == 0x95 ? Hostile.WeighTask.Name : Calc.AddTask.Name;
        return FromSpec("deep-nesting", id => new EnvelopeSpec { Id = id, Task = task, Args = args }, depth + 20 > maxMessageElements ? ["dead:undecodable-args", "dead:oversized"] : ["dead:undecodable-args"]);
    }

    private Input InvalidUtf8()
    {
        byte[] bad = [0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80];
        switch (rng.Next(4))
        {
            case 0:
            {
                // The id itself (the key's suffix and the envelope's id): a valid message otherwise.
                byte[] id = [.. NewId("invalid-utf8"), .. bad[..rng.Next(1, bad.Length)]];
                (EnvelopeSpec spec, string outcome) = ValidSpec(id);
                return Message("invalid-utf8", spec.Encode(), [outcome, "completed", "dead:undecodable"], id);
            }

            case 1:
                return FromSpec("invalid-utf8", id => new EnvelopeSpec { Id = id, Task = (byte[])[.. Wire.Utf8(Calc.AddTask.Name), .. bad], Args = Wire.Array(1, 2) }, ["dead:unknown-task"]);
            case 2:
                return FromSpec("invalid-utf8", id => new EnvelopeSpec { Id = id, Task = Hostile.EchoTask.Name, Args = Wire.Array(bad, 1) }, ["SUCCESS", "dead:undecodable-args"]);
            default:
                return FromSpec("invalid-utf8", id => new EnvelopeSpec { Id = id, Task = Calc.AddTask.Name, Args = Wire.Array(1, 2), Headers = [(bad, bad)] }, ["SUCCESS", "dead:undecodable"]);
        }
    }

    private Input ExtremeTime()
    {
        long[] times = [long.MaxValue, long.MinValue, 253402300800000, -62135596800001, 0, -1, 1L << 53];
        long value = times[rng.Next(times.Length)];
        bool eta = rng.Next(2) == 0;
        string[] tasks = [Calc.AddTask.Name, Calc.ContextOfTask.Name, Hostile.LimitedTask.Name];
        string task = tasks[rng.Next(tasks.Length)];
        byte[] args = task == Calc.ContextOfTask.Name ? Wire.Array() : task == Calc.AddTask.Name ? Wire.Array(1, 2) : Wire.Array(5);
        return FromSpec("extreme-time", id => new EnvelopeSpec { Id = id, Task = task, Args = args, EtaMs = eta ? value : null, ExpiresMs = eta ? null : value }, ["SUCCESS", "REVOKED", "dead:undecodable"]);
    }

    private Input HugeHeaders()
    {
        int count = rng.Next(2) == 0 ? rng.Next(1, 1024) : rng.Next(1025, 20_000);
        int valueLength = rng.Next(2) == 0 ? rng.Next(0, 16) : rng.Next(0, Math.Max(1, maxMessageBytes / Math.Max(1, count)));
        var headers = new List<(byte[], byte[])>(count);
        for (int i = 0; i < count; i++)
        {
            headers.Add((Wire.Utf8("h" + i), new byte[valueLength]));
        }

        return FromSpec("huge-headers", id => new EnvelopeSpec { Id = id, Task = Calc.AddTask.Name, Args = Wire.Array(1, 2), Headers = headers },
            count > 1024 ? ["dead:undecodable", "dead:oversized"] : ["SUCCESS", "dead:oversized"]);
    }

    private Input ElementBomb()
    {
        int rows = rng.Next(maxMessageElements / 2, Math.Min(maxMessageBytes - 100, maxMessageElements * 2));
        byte[] args = Wire.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(1);
            w.WriteArrayHeader(5);
            w.Write("label");
            w.Write(0);
            w.WriteArrayHeader(rows);
            for (int i = 0; i < rows; i++)
            {
                w.WriteArrayHeader(0);
            }

            w.WriteArrayHeader(2);
            w.Write("p");
            w.Write(1);
            w.WriteNil();
        });
        // Elements counted by the worker's scan: the argument list, the record, its two scalars, the rows' array and the
        // rows, a pair and its two values, and the nil: rows + 9. Exactly at the limit is allowed.
        return FromSpec("element-bomb", id => new EnvelopeSpec { Id = id, Task = Hostile.WeighTask.Name, Args = args }, rows + 9 > maxMessageElements ? ["dead:undecodable-args"] : ["SUCCESS"]);
    }

    private Input Oversized()
    {
        int length = maxMessageBytes + rng.Next(1, maxMessageBytes);
        return FromSpec("oversized", id => new EnvelopeSpec { Id = id, Task = Hostile.EchoTask.Name, Args = Wire.Array(new Bin(new byte[length]), 1) }, ["dead:oversized"]);
    }

    private Input RecordMembers()
    {
        object?[] basket = rng.Next(4) switch
        {
            0 => [null, 1, new Raw([0x90]), new Raw([0x92, 0xa1, 0x70, 0x01]), null],               // nil label
            1 => ["l", 1, new Raw([0x90]), new Raw([0x92, 0xc0, 0x01]), null],                      // nil nested name
            2 => ["l", 1, new Raw([0x90])],                                                           // parcel missing
            _ => ["l", rng.Next(3, 1000), new Raw([0x90]), new Raw([0x92, 0xa1, 0x70, 0x01]), null], // undefined enum value
        };
        byte[] args = [0x91, .. Wire.Array(basket)];
        return FromSpec("record-members", id => new EnvelopeSpec { Id = id, Task = Hostile.WeighTask.Name, Args = args }, ["dead:undecodable-args"]);
    }

    /// <summary>A valid message whose hash carries a bookkeeping field that is not a number (docs/protocol.md §2), in the <c>faults</c> queue.</summary>
    private Input CorruptHash()
    {
        byte[] id = NewId("corrupt-hash");
        (EnvelopeSpec spec, string outcome) = ValidSpec(id);
        spec.Queue = "faults";
        string[] fields = ["dc", "runs", "pri", "lease"];
        string field = fields[rng.Next(fields.Length)];
        byte[] junk = rng.Next(2) == 0 ? Wire.Utf8("x" + rng.Next(100)) : [0xff, 0x00, 0x31];
        return new Input
        {
            Category = "corrupt-hash",
            Queue = "faults",
            Id = id,
            Fields = [("msg", spec.Encode()), (field, junk)],
            Scheduled = field == "pri" && rng.Next(2) == 0,
            Allowed = [outcome, "dead:corrupt", .. Dead],
        };
    }

    /// <summary>A valid message for the <c>faults</c> queue, sent next to the corrupt ones there.</summary>
    public Input ValidIn(string queue)
    {
        byte[] id = NewId("valid-" + queue);
        (EnvelopeSpec spec, string outcome) = ValidSpec(id);
        spec.Queue = queue;
        return Message("valid-" + queue, spec.Encode(), [outcome], id, queue);
    }
}
