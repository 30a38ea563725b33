namespace Celeriac.GeneratorTests.Infrastructure;

/// <summary>
/// Diagnostics asserted where they point, not only by ID: the source marks every line that must carry a diagnostic with a
/// trailing <c>// CELnnnn</c> comment (several IDs allowed), and each diagnostic must be reported on a line marked with
/// its ID, once per mark. A diagnostic that moves to the wrong member fails, as does one that is missing or extra.
/// </summary>
public static class DiagnosticExpectations
{
    /// <summary>
    /// Runs the generator on <paramref name="source"/>; its diagnostics must be exactly <paramref name="expectedIds"/>
    /// (in any order), each on a line marked with its ID.
    /// </summary>
    public static GeneratorRun Expect(string source, params string[] expectedIds)
    {
        GeneratorRun run = GeneratorHarness.Run(source);
        List<string> actual = [.. run.GeneratorDiagnostics.Select(d => d.Id).Order(StringComparer.Ordinal)];
        List<string> expected = [.. expectedIds.Order(StringComparer.Ordinal)];
        Assert.True(
            actual.SequenceEqual(expected),
            "Expected [" + string.Join(", ", expected) + "] but the generator reported:\n" + string.Join("\n", run.GeneratorDiagnostics.Select(d => "  " + d)));

        string[] lines = source.ReplaceLineEndings("\n").Split('\n');
        List<string> marked = [.. lines.SelectMany((line, i) => MarkedIds(line).Select(id => $"{id}@{i + 1}")).Order(StringComparer.Ordinal)];
        List<string> located = [.. run.GeneratorDiagnostics.Select(d => $"{d.Id}@{d.Location.GetLineSpan().StartLinePosition.Line + 1}").Order(StringComparer.Ordinal)];
        Assert.True(
            marked.Select(m => m[..m.IndexOf('@', StringComparison.Ordinal)]).SequenceEqual(expected),
            "Every expected diagnostic needs a '// CELnnnn' mark on the line it must be reported on; marked [" + string.Join(", ", marked) + "], reported at [" + string.Join(", ", located) + "]");
        Assert.True(
            located.SequenceEqual(marked),
            "Expected the diagnostics on the marked lines [" + string.Join(", ", marked) + "] but they were reported at [" + string.Join(", ", located) + "]");
        return run;
    }

    private static IEnumerable<string> MarkedIds(string line)
    {
        int comment = line.LastIndexOf("// CEL", StringComparison.Ordinal);
        return comment < 0 ? [] : line[(comment + 3)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(t => t.StartsWith("CEL", StringComparison.Ordinal));
    }
}
