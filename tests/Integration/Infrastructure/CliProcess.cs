using System.Diagnostics;
using System.Text.Json;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>
/// Runs the <c>celeriac</c> command (src/Cli, dotnet Celeriac.Cli.dll) as a real process: stdin closed (not a
/// terminal), stdout and stderr captured, bounded in time. Every run is written to the test's output.
/// </summary>
public sealed class CliProcess(ITestOutputHelper output, string redis, string prefix)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>Where the CLI build sits: src/Cli/bin, same configuration and framework as this test assembly.</summary>
    public static string CliDll
    {
        get
        {
            var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string tfm = testDir.Name;
            string configuration = testDir.Parent!.Name;
            DirectoryInfo root = testDir.Parent.Parent!.Parent!.Parent!.Parent!; // the repository
            string dll = Path.Combine(root.FullName, "src", "Cli", "bin", configuration, tfm, "Celeriac.Cli.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"src/Cli was not built at {dll}; build tests/Integration (it builds the CLI).", dll);
        }
    }

    /// <summary>Runs <c>celeriac --redis R --prefix P args…</c>.</summary>
    public Task<CliRun> RunAsync(params string[] args) => RunRawAsync(["--redis", redis, "--prefix", prefix, .. args]);

    /// <summary>Runs <c>celeriac args…</c> exactly as given, with extra environment variables.</summary>
    public async Task<CliRun> RunRawAsync(string[] args, params (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliDll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("CELERIAC_REDIS");
        start.Environment.Remove("CELERIAC_PREFIX");
        foreach ((string name, string? value) in environment)
        {
            start.Environment[name] = value;
        }

        using Process process = Process.Start(start)!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Bound);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"celeriac {string.Join(' ', args)} did not exit within {Bound.TotalSeconds} s.");
        }

        var run = new CliRun(process.ExitCode, await stdout, await stderr);
        output.WriteLine($"$ celeriac {string.Join(' ', args)}\n{run.Stdout}{(run.Stderr.Length > 0 ? "[stderr] " + run.Stderr : "")}[exit {run.ExitCode}]");
        return run;
    }
}

/// <summary>One finished run of the CLI.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>stdout parsed as one JSON document (fails the test when it is not).</summary>
    public JsonElement Json
    {
        get
        {
            using var document = JsonDocument.Parse(Stdout);
            return document.RootElement.Clone();
        }
    }
}
