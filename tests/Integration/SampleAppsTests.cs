using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;

namespace Celeriac.IntegrationTests;

/// <summary>
/// The three-project layout users ship: a tasks library (samples/SampleTasks, declaring queues and routes), a worker
/// application and a client application that share nothing but that library, run here as separate processes.
/// </summary>
public sealed class SampleAppsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_client_process_and_a_worker_process_share_only_the_tasks_library()
    {
        await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        using Process worker = Start(SampleDll("AotWorker", "celeriac-aot-worker.dll"), [],
            ("Celeriac__Redis", RedisFixture.Configuration), ("Celeriac__KeyPrefix", prefix),
            ("Celeriac__Worker__Queues__0", "default"), ("Celeriac__Worker__Queues__1", "billing"));
        try
        {
            string ready = await ReadUntilAsync(worker, "READY");
            output.WriteLine($"worker: {ready}");

            using Process client = Start(SampleDll("AotClient", "celeriac-aot-client.dll"), ["--redis", RedisFixture.Configuration, "--prefix", prefix, "--count", "250"]);
            string summary = await ReadUntilAsync(client, "tasks checked ok");
            await client.WaitForExitAsync().WaitAsync(Bound);
            output.WriteLine($"client: {summary} (exit {client.ExitCode})");
            Assert.Equal(0, client.ExitCode);
            Assert.StartsWith("250 of 250 tasks checked ok", summary);
        }
        finally
        {
            if (!worker.HasExited)
            {
                worker.Kill(entireProcessTree: true);
            }
        }
    }

    private static string SampleDll(string project, string dll)
    {
        var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = testDir.Name;
        string configuration = testDir.Parent!.Name;
        DirectoryInfo root = testDir.Parent.Parent!.Parent!.Parent!.Parent!; // the repository
        string path = Path.Combine(root.FullName, "samples", project, "bin", configuration, tfm, dll);
        return File.Exists(path) ? path : throw new FileNotFoundException($"samples/{project} was not built at {path}; build tests/Integration (it builds the samples).", path);
    }

    private static Process Start(string dll, string[] args, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach ((string name, string value) in environment)
        {
            start.Environment[name] = value;
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start " + dll);
    }

    /// <summary>Reads standard output until a line contains <paramref name="marker"/> (bounded); prints what it read.</summary>
    private async Task<string> ReadUntilAsync(Process process, string marker)
    {
        using var cts = new CancellationTokenSource(Bound);
        while (await process.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                return line;
            }

            output.WriteLine("  | " + line);
        }

        string errors = await process.StandardError.ReadToEndAsync(cts.Token);
        throw new InvalidOperationException($"the process ended before printing '{marker}'; stderr: {errors}");
    }
}
