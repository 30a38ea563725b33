using Celeriac;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MyWorker;

// Settings come from appsettings.json, environment variables (Celeriac__Redis=localhost:6379,
// Celeriac__Worker__Concurrency=8) or arguments (--Celeriac:Redis=localhost:6379).
HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
builder.Services
    .AddCeleriac(builder.Configuration.GetSection("Celeriac"))
    .AddWorker(builder.Configuration.GetSection("Celeriac:Worker"));

using IHost host = builder.Build();
await host.StartAsync();
if (string.IsNullOrEmpty(builder.Configuration["Celeriac:Redis"]))
{
    // No Redis configured: the in-process broker serves only this process, so show a round trip here.
    // Set Celeriac__Redis=host:port to take tasks from clients in other processes.
    ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
    TaskHandle<string> ping = await WorkerTasks.PingTask.DelayAsync(client, "in-process broker");
    Console.WriteLine(await ping.GetAsync(TimeSpan.FromSeconds(10)));
}

await host.WaitForShutdownAsync();
