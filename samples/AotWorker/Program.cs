using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// A worker as a native binary. Configuration comes from the usual places (appsettings.json, environment variables
// such as Celeriac__Redis=localhost:6379 and Celeriac__Worker__Concurrency=8, or --Celeriac:Redis=... arguments);
// the tasks come from the referenced Celeriac.Samples.Tasks library through its generated registry.
long startTicks = Stopwatch.GetTimestamp();
HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services
    .AddCeleriac(builder.Configuration.GetSection("Celeriac"))
    .AddWorker(builder.Configuration.GetSection("Celeriac:Worker"));

using IHost host = builder.Build();
host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() =>
    Console.WriteLine($"READY in {Stopwatch.GetElapsedTime(startTicks).TotalMilliseconds:0.0} ms ({Celeriac.TaskCatalog.Global.Count} tasks)"));
await host.RunAsync();
