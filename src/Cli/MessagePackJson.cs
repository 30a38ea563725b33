using System.Buffers;
using System.Text.Json;
using MessagePack;

namespace Celeriac.Cli;

/// <summary>
/// Shows MessagePack bytes (a result's value, a message's arguments) as JSON without knowing their types: maps become
/// objects (non-string keys are written as their JSON text), binary becomes base64, the timestamp extension an ISO 8601
/// string. Reads token by token with <see cref="MessagePackReader"/>: no resolver, no reflection.
/// </summary>
internal static class MessagePackJson
{
    /// <summary>Writes <paramref name="bytes"/> as one JSON value; bytes that do not read as MessagePack are written as a base64 string.</summary>
    public static void Write(Utf8JsonWriter writer, ReadOnlyMemory<byte> bytes)
    {
        try
        {
            // Into a buffer first: a value that fails half-way must not leave half a JSON value behind.
            var buffer = new ArrayBufferWriter<byte>();
            using (var inner = new Utf8JsonWriter(buffer))
            {
                var reader = new MessagePackReader(bytes);
                WriteValue(inner, ref reader, depth: 0);
            }

            writer.WriteRawValue(buffer.WrittenSpan, skipInputValidation: true);
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or InvalidOperationException)
        {
            writer.WriteBase64StringValue(bytes.Span);
        }
    }

    /// <summary>The bytes as compact JSON text (for a table cell or a line).</summary>
    public static string ToText(ReadOnlyMemory<byte> bytes)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            Write(writer, bytes);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteValue(Utf8JsonWriter writer, ref MessagePackReader reader, int depth)
    {
        if (depth > 64)
        {
            throw new InvalidOperationException("nested too deeply");
        }

        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                writer.WriteNullValue();
                break;
            case MessagePackType.Boolean:
                writer.WriteBooleanValue(reader.ReadBoolean());
                break;
            case MessagePackType.Integer:
                if (reader.NextCode == MessagePackCode.UInt64)
                {
                    writer.WriteNumberValue(reader.ReadUInt64());
                }
                else
                {
                    writer.WriteNumberValue(reader.ReadInt64());
                }

                break;
            case MessagePackType.Float:
                double d = reader.ReadDouble();
                if (double.IsFinite(d))
                {
                    writer.WriteNumberValue(d);
                }
                else
                {
                    writer.WriteStringValue(d.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }

                break;
            case MessagePackType.String:
                writer.WriteStringValue(reader.ReadString());
                break;
            case MessagePackType.Binary:
                ReadOnlySequence<byte> bin = reader.ReadBytes() ?? default;
                writer.WriteBase64StringValue(bin.ToArray());
                break;
            case MessagePackType.Array:
                int count = reader.ReadArrayHeader();
                writer.WriteStartArray();
                for (int i = 0; i < count; i++)
                {
                    WriteValue(writer, ref reader, depth + 1);
                }

                writer.WriteEndArray();
                break;
            case MessagePackType.Map:
                int pairs = reader.ReadMapHeader();
                writer.WriteStartObject();
                for (int i = 0; i < pairs; i++)
                {
                    if (reader.NextMessagePackType == MessagePackType.String)
                    {
                        writer.WritePropertyName(reader.ReadString() ?? "null");
                    }
                    else
                    {
                        var keyBuffer = new ArrayBufferWriter<byte>();
                        using (var keyWriter = new Utf8JsonWriter(keyBuffer))
                        {
                            WriteValue(keyWriter, ref reader, depth + 1);
                        }

                        writer.WritePropertyName(System.Text.Encoding.UTF8.GetString(keyBuffer.WrittenSpan));
                    }

                    WriteValue(writer, ref reader, depth + 1);
                }

                writer.WriteEndObject();
                break;
            case MessagePackType.Extension:
                ExtensionHeader header = reader.ReadExtensionFormatHeader();
                if (header.TypeCode == ReservedMessagePackExtensionTypeCode.DateTime)
                {
                    writer.WriteStringValue(reader.ReadDateTime(header).ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                }
                else
                {
                    ReadOnlySequence<byte> data = reader.ReadRaw(header.Length);
                    writer.WriteStartObject();
                    writer.WriteNumber("ext", header.TypeCode);
                    writer.WriteBase64String("data", data.ToArray());
                    writer.WriteEndObject();
                }

                break;
            default:
                throw new InvalidOperationException("unknown MessagePack token");
        }
    }
}
