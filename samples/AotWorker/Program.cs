using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// A worker as a native binary. Configuration comes from environment variables (Celeriac__Redis=localhost:6379,
// Celeriac__Worker__Concurrency=8) or arguments (--Celeriac:Redis=localhost:6379); Celeriac__Worker__Processes=4 runs it as a
// supervisor of 4 copies of itself (docs/workers.md). The tasks come from the referenced
// Celeriac.Samples.Tasks library through its generated registry. The slim builder keeps the binary small: no JSON
// configuration files, one log provider.
long startTicks = Stopwatch.GetTimestamp();
HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { Args = args });
builder.Configuration.AddEnvironmentVariables().AddCommandLine(args);
builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging")).AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
builder.Services
    .AddCeleriac(builder.Configuration.GetSection("Celeriac"))
    .AddWorker(builder.Configuration.GetSection("Celeriac:Worker"));

using IHost host = builder.Build();
host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() =>
    Console.WriteLine($"READY in {Stopwatch.GetElapsedTime(startTicks).TotalMilliseconds:0.0} ms ({Celeriac.TaskCatalog.Global.Count} tasks)"));
try
{
    await host.RunAsync();
    return Environment.ExitCode; // 75 (WorkerOptions.RecycleExitCode) when the worker recycled itself, else 0
}
catch (Microsoft.Extensions.Options.OptionsValidationException invalid)
{
    // Bad configuration is reported once, plainly, with the setting's name; no stack trace, no abort.
    Console.Error.WriteLine("celeriac-aot-worker: invalid configuration: " + invalid.Message);
    return 2;
}
catch (InvalidOperationException cannotStart)
{
    // Redis unreachable, credentials or TLS refused: said once, with the address (never the password); the supervisor restarts the worker.
    Console.Error.WriteLine("celeriac-aot-worker: cannot start: " + cannotStart.Message);
    return 3;
}
