using System.Collections;
using System.Reflection;
using System.Numerics;
using System.Text;
using Celeriac.Generators.Parsing;
using MessagePack;
using MessagePack.Resolvers;

namespace Celeriac.GeneratorTests;

/// <summary>The generator's knowledge of MessagePack 2.5.307 matches the real package.</summary>
public sealed class MessagePackCoverageUnitTests
{
    [Fact]
    public void EveryTypeTreatedAsBuiltinIsFormattedByBuiltinResolver()
    {
        Assembly[] candidates = [typeof(object).Assembly, typeof(Uri).Assembly, typeof(BigInteger).Assembly, typeof(BitArray).Assembly, typeof(StringBuilder).Assembly];
        var getFormatter = typeof(IFormatterResolver).GetMethod(nameof(IFormatterResolver.GetFormatter))!;
        foreach (string name in PayloadTypeWalker.BuiltinTypes)
        {
            Type? type = candidates.Select(a => a.GetType(name)).FirstOrDefault(t => t is not null);
            Assert.True(type is not null, "Cannot resolve " + name);
            object? formatter = getFormatter.MakeGenericMethod(type).Invoke(BuiltinResolver.Instance, null);
            Assert.True(formatter is not null, "BuiltinResolver has no formatter for " + name);
        }
    }

    [Fact]
    public void EveryCollectionFormatterExists()
    {
        Assembly messagePack = typeof(MessagePackSerializer).Assembly;
        foreach ((string collection, string formatter) in PayloadTypeWalker.CollectionFormatters)
        {
            int arity = int.Parse(collection[(collection.IndexOf('`', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            Type? type = messagePack.GetType("MessagePack.Formatters." + formatter + "`" + arity);
            Assert.True(type is { IsPublic: true }, "MessagePack has no public " + formatter + " for " + collection);
        }
    }
}
