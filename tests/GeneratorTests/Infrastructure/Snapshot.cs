namespace Celeriac.GeneratorTests.Infrastructure;

/// <summary>
/// Compares text with a committed <c>_snapshots/{name}.verified.cs</c>. A mismatch writes <c>{name}.received.cs</c>
/// next to it and fails. Accepting is explicit: set CELERIAC_ACCEPT_SNAPSHOTS=1 locally; never automatic.
/// </summary>
public static class Snapshot
{
    public const string AcceptVariable = "CELERIAC_ACCEPT_SNAPSHOTS";

    public static void Verify(string name, string actual)
    {
        string directory = Path.Combine(RepositoryPaths.GeneratorTests, "_snapshots");
        Directory.CreateDirectory(directory);
        string verified = Path.Combine(directory, name + ".verified.cs");
        string received = Path.Combine(directory, name + ".received.cs");
        actual = actual.ReplaceLineEndings("\n");

        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            File.WriteAllText(verified, actual);
            File.Delete(received);
            return;
        }

        string? expected = File.Exists(verified) ? File.ReadAllText(verified).ReplaceLineEndings("\n") : null;
        if (expected == actual)
        {
            File.Delete(received);
            return;
        }

        File.WriteAllText(received, actual);
        Assert.Fail(expected is null
            ? $"No snapshot {verified}. Review {received}, then accept it with {AcceptVariable}=1."
            : $"Snapshot mismatch: {FirstDifference(expected, actual)}\nCompare: diff {verified} {received}\nAccept with {AcceptVariable}=1 once reviewed.");
    }

    private static string FirstDifference(string expected, string actual)
    {
        string[] e = expected.Split('\n');
        string[] a = actual.Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string el = i < e.Length ? e[i] : "<end of file>";
            string al = i < a.Length ? a[i] : "<end of file>";
            if (el != al)
            {
                return $"line {i + 1}\n  expected: {el}\n  actual:   {al}";
            }
        }

        return "(no line differs)";
    }
}
