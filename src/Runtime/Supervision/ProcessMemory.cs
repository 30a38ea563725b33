using System.Diagnostics;
using System.Globalization;

namespace Celeriac.Supervision;

/// <summary>The resident memory of this process, read cheaply enough for a timer (never per task).</summary>
internal static class ProcessMemory
{
    /// <summary>
    /// Resident bytes: on Linux the second field of <c>/proc/self/statm</c> (resident pages) times the page size, one
    /// small file read; elsewhere the working set. 0 when it cannot be read.
    /// </summary>
    public static long ResidentBytes()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                // "size resident shared text lib data dt", in pages.
                string statm = File.ReadAllText("/proc/self/statm");
                int start = statm.IndexOf(' ', StringComparison.Ordinal) + 1;
                int end = statm.IndexOf(' ', start);
                if (start > 0 && end > start && long.TryParse(statm.AsSpan(start, end - start), NumberStyles.None, CultureInfo.InvariantCulture, out long pages))
                {
                    return pages * Environment.SystemPageSize;
                }
            }
            catch (IOException)
            {
                // No procfs here (a sandbox): the working set below.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        using Process self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }
}
