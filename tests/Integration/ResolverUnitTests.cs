using Celeriac.TestTasks;
using MessagePack;
using MessagePack.Formatters;
using TestTasksResolver = Celeriac.Generated.Celeriac_TestTasks.GeneratedResolver;

namespace Celeriac.IntegrationTests;

/// <summary>
/// The generated resolver is the whole chain: generated formatters plus MessagePack's static BuiltinResolver. A type
/// nothing generated a formatter for must fail loudly, never fall back to a dynamic (reflection/emit) resolver, which
/// would break under Native AOT.
/// </summary>
public sealed class ResolverUnitTests(ITestOutputHelper output)
{
    [Fact]
    public void Types_reachable_from_task_signatures_resolve_to_generated_formatters()
    {
        IMessagePackFormatter<Order>? order = TestTasksResolver.Options.Resolver.GetFormatter<Order>();
        IMessagePackFormatter<Tier>? tier = TestTasksResolver.Options.Resolver.GetFormatter<Tier>();
        output.WriteLine($"Order -> {order?.GetType().FullName}; Tier -> {tier?.GetType().FullName}");
        Assert.NotNull(order);
        Assert.NotNull(tier);
        Assert.StartsWith("Celeriac.Generated.", order.GetType().FullName);
        Assert.StartsWith("Celeriac.Generated.", tier.GetType().FullName);
    }

    [Fact]
    public void A_type_no_task_uses_has_no_formatter_and_no_dynamic_fallback()
    {
        Assert.Null(TestTasksResolver.Options.Resolver.GetFormatter<Unrelated>());
        Assert.Null(TestTasksResolver.Options.Resolver.GetFormatter<List<Unrelated>>());
        MessagePackSerializationException error = Assert.Throws<MessagePackSerializationException>(
            () => MessagePackSerializer.Serialize(new Unrelated { Value = 1 }, TestTasksResolver.Options));
        output.WriteLine(error.ToString().Split('\n')[0]);
        Assert.IsType<FormatterNotRegisteredException>(error.InnerException);
    }

    [Fact]
    public void A_generated_formatter_writes_and_reads_the_documented_bytes_without_the_standard_resolver()
    {
        var value = new Order("ada", Tier.Gold, [1, 2, 3], 0.25m, null);
        byte[] bytes = MessagePackSerializer.Serialize(value, TestTasksResolver.Options);

        // Written out by hand: a record is an array of its members in order; an enum is its number; a decimal is
        // MessagePack's own string form.
        byte[] expected = [0x95, 0xa3, .. "ada"u8, 0x02, 0x93, 0x01, 0x02, 0x03, 0xa4, .. "0.25"u8, 0xc0];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(bytes));
        Order back = MessagePackSerializer.Deserialize<Order>(expected, TestTasksResolver.Options);
        output.WriteLine($"{bytes.Length} bytes: {MessagePackSerializer.ConvertToJson(bytes)}");
        Assert.Equal(value.Customer, back.Customer);
        Assert.Equal(value.Tier, back.Tier);
        Assert.Equal(value.Quantities, back.Quantities);
        Assert.Equal(value.Discount, back.Discount);
        Assert.Null(back.Note);
    }

    public sealed class Unrelated
    {
        public int Value { get; set; }
    }
}
