using System.Diagnostics;
using Celeriac;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quickstart;

// Redis when CELERIAC_REDIS or --redis names one; otherwise the in-process broker (no setup at all).
string? redis = Environment.GetEnvironmentVariable("CELERIAC_REDIS");
int flag = Array.IndexOf(args, "--redis");
if (flag >= 0 && flag + 1 < args.Length)
{
    redis = args[flag + 1];
}

Console.WriteLine(string.IsNullOrEmpty(redis)
    ? "Celeriac Quickstart: in-process broker (set CELERIAC_REDIS=host:port or pass --redis host:port to use Redis)"
    : $"Celeriac Quickstart: Redis at {redis}");

HostApplicationBuilder builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSingleton<IMailer, ConsoleMailer>();
builder.Services
    .AddCeleriac(o => o.Redis = redis)
    .AddWorker(w =>
    {
        w.Queues = ["default", "mail"];
        w.Concurrency = 4;
    });

using IHost host = builder.Build();
await host.StartAsync();
ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
TimeSpan timeout = TimeSpan.FromSeconds(10);

// 1. A typed round trip.
TaskHandle<int> sum = await MathTasks.AddTask.DelayAsync(client, 4, 5);
Console.WriteLine($"Add(4, 5) = {await sum.GetAsync(timeout)}   (task {sum.Id})");

// 2. An async task with an injected TaskContext.
TaskHandle<string> greeting = await MathTasks.GreetTask.DelayAsync(client, "Celeriac");
Console.WriteLine($"Greet = {await greeting.GetAsync(timeout)}");

// 3. An instance task on another queue, with a record argument; its dependencies come from DI.
var letter = new Letter("ada@example.com", "Welcome", ["Hello Ada,", "your account is ready."], Urgency.High);
TaskHandle<int> sent = await MailTasks.SendTask.DelayAsync(client, letter);
Console.WriteLine($"MailTasks.Send wrote {await sent.GetAsync(timeout)} characters");

// 4. A task that fails: the exception type, message and stack come back to the client.
TaskHandle<double> division = await MathTasks.DivideTask.DelayAsync(client, 1, 0);
try
{
    await division.GetAsync(timeout);
}
catch (TaskFailedException failure)
{
    Console.WriteLine($"Divide(1, 0) failed remotely: {failure.RemoteType}: {failure.RemoteMessage}");
}

// 5. A countdown: the broker holds the task until it is due.
var clock = Stopwatch.StartNew();
TaskHandle<int> later = await MathTasks.AddTask.ApplyAsync(client, 20, 22, new TaskOptions { Countdown = TimeSpan.FromSeconds(1) });
Console.WriteLine($"Add(20, 22) with a 1 s countdown = {await later.GetAsync(timeout)} after {clock.ElapsedMilliseconds} ms");

// 6. A handle re-created from the id alone, as another process would.
TaskHandle<int> again = MathTasks.AddTask.Handle(client, sum.Id);
Console.WriteLine($"Re-created handle {again.Id[..8]}...: state {await again.GetStateAsync()}, value {await again.GetAsync(timeout)}");

await host.StopAsync();
Console.WriteLine("Done.");
