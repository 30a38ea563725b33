using System.Globalization;
using System.Text.RegularExpressions;
using Celeriac.IntegrationTests.Infrastructure;

namespace Celeriac.IntegrationTests.Supervision;

/// <summary>
/// Reads a supervisor's output (its children's lines come through it, as they inherit its output): which children it
/// started, in which slot and with which pid, and when each line arrived. Also checks /proc for the pids.
/// </summary>
internal static partial class SupervisedWorkers
{
    /// <summary>The children the supervisor said it started, in order: (slot index, pid).</summary>
    public static List<(int Index, int Pid)> Started(WorkerProcess supervisor)
        => [.. supervisor.Lines.Select(l => StartedLine().Match(l)).Where(m => m.Success).Select(m => (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))];

    /// <summary>The pids of the children that printed READY (their host started).</summary>
    public static HashSet<int> Ready(WorkerProcess supervisor)
        => [.. supervisor.Lines.Select(l => ReadyLine().Match(l)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Where(pid => pid != supervisor.Id)];

    /// <summary>How many lines contain <paramref name="text"/>.</summary>
    public static int Count(WorkerProcess supervisor, string text) => supervisor.Lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Whether <paramref name="pid"/> is a live process (a zombie, dead but not yet reaped, is not).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>SIGKILLs whichever of <paramref name="pids"/> still live: the cleanup of a test whose supervisor died first.</summary>
    public static void KillSurvivors(IEnumerable<int> pids)
    {
        foreach (int pid in pids.Where(IsAlive))
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                process.Kill();
            }
            catch (ArgumentException)
            {
                // Gone meanwhile.
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    [GeneratedRegex(@"child (\d+) started \(pid (\d+)\)")]
    private static partial Regex StartedLine();

    [GeneratedRegex(@"^READY pid=(\d+)")]
    private static partial Regex ReadyLine();
}
