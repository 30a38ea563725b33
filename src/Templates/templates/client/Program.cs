using Celeriac;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MyClient;

// With CELERIAC_REDIS=host:port the tasks go to Redis, for the workers that listen there. Without it the in-process
// broker is used and this process runs a worker too, so the client works with no setup at all.
string? redis = Environment.GetEnvironmentVariable("CELERIAC_REDIS");
HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
CeleriacBuilder celeriac = builder.Services.AddCeleriac(o => o.Redis = redis);
if (string.IsNullOrEmpty(redis))
{
    celeriac.AddWorker();
}

using IHost host = builder.Build();
await host.StartAsync();
ITaskClient client = host.Services.GetRequiredService<ITaskClient>();

TaskHandle<int> sum = await ClientTasks.AddTask.DelayAsync(client, 4, 5);
Console.WriteLine($"Add(4, 5) = {await sum.GetAsync(TimeSpan.FromSeconds(10))}");

await host.StopAsync();
