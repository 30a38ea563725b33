using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Celeriac;
using Celeriac.Control;
using Spectre.Console;

namespace Celeriac.Cli;

/// <summary>
/// <c>inspect ping|active|reserved|registered|stats</c> and <c>control shutdown|add-consumer|cancel-consumer|grow|shrink</c>:
/// commands to live workers, with the replies collected within <c>--timeout</c> (docs/observability.md).
/// </summary>
internal static class WorkerCommands
{
    private static Option<string?> WorkerOption() => new("--worker", "-w") { Description = "Only this worker (its id, as status lists it); default: every live worker." };

    private static Option<double> TimeoutOption()
    {
        var timeout = new Option<double>("--timeout", "-t") { Description = "Seconds to wait for the workers' replies.", DefaultValueFactory = _ => 2.0 };
        timeout.Validators.Add(result =>
        {
            double value = result.GetValueOrDefault<double>();
            if (!(value > 0 && value <= 300))
            {
                result.AddError("--timeout must be more than 0 and at most 300 seconds.");
            }
        });
        return timeout;
    }

    public static Command Inspect()
    {
        var inspect = new Command("inspect", "Asks live workers what they are doing; each command collects the replies within --timeout.");
        inspect.Subcommands.Add(Ask("ping", "Each live worker answers pong.",
            (client, worker, timeout, ct) => client.Inspect.PingAsync(worker, timeout, ct),
            (w, value) => w.WriteStringValue(value),
            (terminal, replies) =>
            {
                foreach (WorkerReply<string> reply in replies.Replies)
                {
                    terminal.Line($"{reply.Worker}: {reply.Value ?? reply.Error}");
                }
            }));
        inspect.Subcommands.Add(Ask("active", "The tasks each worker is running now: id, name, queue, runtime, deliveries.",
            (client, worker, timeout, ct) => client.Inspect.ActiveAsync(worker, timeout, ct),
            (w, tasks) =>
            {
                w.WriteStartArray();
                foreach (ActiveTask task in tasks ?? [])
                {
                    w.WriteStartObject();
                    w.WriteString("id", task.TaskId);
                    w.WriteString("task", task.TaskName);
                    w.WriteString("queue", task.Queue);
                    w.WriteString("startedAt", task.StartedAt.UtcDateTime);
                    w.WriteNumber("runtimeMs", (long)task.Runtime.TotalMilliseconds);
                    w.WriteNumber("deliveries", task.DeliveryCount);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            },
            (terminal, replies) =>
            {
                Table table = terminal.NewTable("WORKER", "ID", "TASK", "QUEUE", "RUNTIME", "DELIVERIES");
                foreach (WorkerReply<IReadOnlyList<ActiveTask>> reply in replies.Replies)
                {
                    foreach (ActiveTask task in reply.Value ?? [])
                    {
                        table.AddRow(Terminal.Cell(reply.Worker), Terminal.Cell(task.TaskId, "bold"), Terminal.Cell(task.TaskName), Terminal.Cell(task.Queue),
                            Terminal.Cell(Duration(task.Runtime)), Terminal.Cell(task.DeliveryCount.ToString(CultureInfo.InvariantCulture)));
                    }
                }

                WriteTableOrNone(terminal, table, "No task is running.");
            }));
        inspect.Subcommands.Add(Ask("reserved", "The tasks each worker has fetched but not started (prefetched).",
            (client, worker, timeout, ct) => client.Inspect.ReservedAsync(worker, timeout, ct),
            (w, tasks) =>
            {
                w.WriteStartArray();
                foreach (ReservedTask task in tasks ?? [])
                {
                    w.WriteStartObject();
                    w.WriteString("id", task.TaskId);
                    w.WriteString("task", task.TaskName);
                    w.WriteString("queue", task.Queue);
                    w.WriteNumber("deliveries", task.DeliveryCount);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            },
            (terminal, replies) =>
            {
                Table table = terminal.NewTable("WORKER", "ID", "TASK", "QUEUE", "DELIVERIES");
                foreach (WorkerReply<IReadOnlyList<ReservedTask>> reply in replies.Replies)
                {
                    foreach (ReservedTask task in reply.Value ?? [])
                    {
                        table.AddRow(Terminal.Cell(reply.Worker), Terminal.Cell(task.TaskId, "bold"), Terminal.Cell(task.TaskName), Terminal.Cell(task.Queue),
                            Terminal.Cell(task.DeliveryCount.ToString(CultureInfo.InvariantCulture)));
                    }
                }

                WriteTableOrNone(terminal, table, "No task is reserved.");
            }));
        inspect.Subcommands.Add(Ask("registered", "The tasks each worker can run, with their queues.",
            (client, worker, timeout, ct) => client.Inspect.RegisteredAsync(worker, timeout, ct),
            (w, tasks) =>
            {
                w.WriteStartArray();
                foreach (RegisteredTask task in tasks ?? [])
                {
                    w.WriteStartObject();
                    w.WriteString("name", task.Name);
                    w.WriteString("queue", task.Queue);
                    w.WriteString("execution", task.Execution == TaskExecution.Cpu ? "cpu" : "pool");
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            },
            (terminal, replies) =>
            {
                Table table = terminal.NewTable("WORKER", "TASK", "QUEUE", "RUNS ON");
                foreach (WorkerReply<IReadOnlyList<RegisteredTask>> reply in replies.Replies)
                {
                    foreach (RegisteredTask task in reply.Value ?? [])
                    {
                        table.AddRow(Terminal.Cell(reply.Worker), Terminal.Cell(task.Name, "bold"), Terminal.Cell(task.Queue), Terminal.Cell(task.Execution == TaskExecution.Cpu ? "cpu threads" : "thread pool"));
                    }
                }

                WriteTableOrNone(terminal, table, "No task is registered.");
            }));
        inspect.Subcommands.Add(Ask("stats", "Each worker's host, pid, version, uptime, queues, concurrency and counts.",
            (client, worker, timeout, ct) => client.Inspect.StatsAsync(worker, timeout, ct),
            (w, stats) =>
            {
                if (stats is null)
                {
                    w.WriteNullValue();
                    return;
                }

                w.WriteStartObject();
                w.WriteString("host", stats.Host);
                w.WriteNumber("pid", stats.ProcessId);
                w.WriteString("version", stats.Version);
                w.WriteString("broker", stats.Broker);
                w.WriteString("startedAt", stats.StartedAt.UtcDateTime);
                w.WriteNumber("uptimeSeconds", Math.Round(stats.Uptime.TotalSeconds, 3));
                WriteStrings(w, "queues", stats.Queues);
                w.WriteNumber("concurrency", stats.Concurrency);
                if (stats.AutoscaleMin is { } min && stats.AutoscaleMax is { } max)
                {
                    w.WriteStartObject("autoscale");
                    w.WriteNumber("min", min);
                    w.WriteNumber("max", max);
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteNull("autoscale");
                }

                w.WriteNumber("prefetch", stats.Prefetch);
                w.WriteNumber("processed", stats.Processed);
                w.WriteNumber("failed", stats.Failed);
                w.WriteNumber("active", stats.Active);
                w.WriteNumber("reserved", stats.Reserved);
                w.WriteBoolean("brokerReachable", stats.BrokerReachable);
                w.WriteEndObject();
            },
            (terminal, replies) =>
            {
                Table table = terminal.NewTable("WORKER", "HOST", "PID", "UPTIME", "QUEUES", "CONCURRENCY", "PROCESSED", "FAILED", "ACTIVE", "RESERVED", "BROKER");
                foreach (WorkerReply<WorkerStats> reply in replies.Replies)
                {
                    if (reply.Value is not { } s)
                    {
                        continue;
                    }

                    table.AddRow(Terminal.Cell(reply.Worker, "bold"), Terminal.Cell(s.Host), Terminal.Cell(Int(s.ProcessId)), Terminal.Cell(Duration(s.Uptime)),
                        Terminal.Cell(string.Join(",", s.Queues)), Terminal.Cell(s.AutoscaleMin is { } min && s.AutoscaleMax is { } max ? $"{Int(s.Concurrency)} ({Int(min)}-{Int(max)})" : Int(s.Concurrency)), Terminal.Cell(Int(s.Processed)), Terminal.Cell(Int(s.Failed)),
                        Terminal.Cell(Int(s.Active)), Terminal.Cell(Int(s.Reserved)), Terminal.Cell(s.BrokerReachable ? "ok" : "unreachable", s.BrokerReachable ? "green" : "red"));
                }

                WriteTableOrNone(terminal, table, "No stats.");
            }));
        return inspect;
    }

    public static Command Control()
    {
        var control = new Command("control", "Changes live workers: warm shutdown, queues consumed, concurrency.");

        var shutdownWorker = new Argument<string>("worker") { Description = "The worker's id (one worker: there is no broadcast shutdown)." };
        control.Subcommands.Add(Act("shutdown", "Stops one worker warmly, as SIGTERM would: it finishes its running tasks and hands back what it prefetched.",
            [shutdownWorker], withWorker: false,
            (context, worker, timeout, ct) => context.Client.Control.ShutdownAsync(context.Parsed.GetValue(shutdownWorker)!, timeout, ct),
            (w, v) => w.WriteStringValue(v)));

        var addQueue = new Argument<string>("queue") { Description = "The queue to start consuming." };
        control.Subcommands.Add(Act("add-consumer", "Makes workers start consuming a queue (no restart).",
            [addQueue], withWorker: true,
            (context, worker, timeout, ct) => context.Client.Control.AddConsumerAsync(context.Parsed.GetValue(addQueue)!, worker, timeout, ct),
            (w, v) => w.WriteStringValue(v)));

        var cancelQueue = new Argument<string>("queue") { Description = "The queue to stop consuming." };
        control.Subcommands.Add(Act("cancel-consumer", "Makes workers stop consuming a queue (a worker refuses to drop its only queue).",
            [cancelQueue], withWorker: true,
            (context, worker, timeout, ct) => context.Client.Control.CancelConsumerAsync(context.Parsed.GetValue(cancelQueue)!, worker, timeout, ct),
            (w, v) => w.WriteStringValue(v)));

        var growBy = By("How many more tasks at once.");
        control.Subcommands.Add(Act("grow", "Makes workers run more tasks at once; each reply is the new concurrency.",
            [growBy], withWorker: true,
            (context, worker, timeout, ct) => context.Client.Control.GrowAsync(context.Parsed.GetValue(growBy), worker, timeout, ct),
            (w, v) => w.WriteNumberValue(v)));

        var shrinkBy = By("How many fewer tasks at once (never below 1; no running task is interrupted).");
        control.Subcommands.Add(Act("shrink", "Makes workers run fewer tasks at once; each reply is the new concurrency.",
            [shrinkBy], withWorker: true,
            (context, worker, timeout, ct) => context.Client.Control.ShrinkAsync(context.Parsed.GetValue(shrinkBy), worker, timeout, ct),
            (w, v) => w.WriteNumberValue(v)));
        return control;
    }

    private static Argument<int> By(string description)
    {
        var by = new Argument<int>("n") { Description = description, Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => 1 };
        by.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("n must be at least 1.");
            }
        });
        return by;
    }

    /// <summary>An inspect command: ask, then write the replies as JSON or as <paramref name="text"/> renders them.</summary>
    private static Command Ask<T>(string name, string description,
        Func<CeleriacClient, string?, TimeSpan, CancellationToken, Task<ControlReplies<T>>> ask,
        Action<Utf8JsonWriter, T?> writeValue,
        Action<Terminal, ControlReplies<T>> text)
    {
        Option<string?> worker = WorkerOption();
        Option<double> timeout = TimeoutOption();
        var command = new Command(name, description);
        command.Options.Add(worker);
        command.Options.Add(timeout);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string? only = context.Parsed.GetValue(worker);
            ControlReplies<T> replies = await ask(context.Client, only, TimeSpan.FromSeconds(context.Parsed.GetValue(timeout)), cancellationToken).ConfigureAwait(false);
            if (context.Terminal.Json)
            {
                WriteReplies(context.Terminal, replies, writeValue);
            }
            else
            {
                text(context.Terminal, replies);
            }

            return Outcome(context.Terminal, replies, only);
        });
        return command;
    }

    /// <summary>A control command: send, then write each worker's reply (or refusal).</summary>
    private static Command Act<T>(string name, string description, Argument[] arguments, bool withWorker,
        Func<CommandContext, string?, TimeSpan, CancellationToken, Task<ControlReplies<T>>> act,
        Action<Utf8JsonWriter, T?> writeValue)
    {
        Option<string?>? worker = withWorker ? WorkerOption() : null;
        Option<double> timeout = TimeoutOption();
        var command = new Command(name, description);
        foreach (Argument argument in arguments)
        {
            command.Arguments.Add(argument);
        }

        if (worker is not null)
        {
            command.Options.Add(worker);
        }

        command.Options.Add(timeout);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string? only = worker is null ? null : context.Parsed.GetValue(worker);
            ControlReplies<T> replies;
            try
            {
                replies = await act(context, only, TimeSpan.FromSeconds(context.Parsed.GetValue(timeout)), cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException ex)
            {
                throw new CliException(ExitCodes.Usage, ex.Message);
            }

            if (context.Terminal.Json)
            {
                WriteReplies(context.Terminal, replies, writeValue);
            }
            else
            {
                foreach (WorkerReply<T> reply in replies.Replies)
                {
                    if (reply.Succeeded)
                    {
                        context.Terminal.Line($"{reply.Worker}: {name} -> {Convert.ToString(reply.Value, CultureInfo.InvariantCulture)}", "green");
                    }
                    else
                    {
                        context.Terminal.Line($"{reply.Worker}: refused: {reply.Error}", "red");
                    }
                }
            }

            int code = Outcome(context.Terminal, replies, only ?? (worker is null ? context.Parsed.GetValue((Argument<string>)arguments[0]) : null));
            return code == ExitCodes.Ok && replies.Replies.Any(r => !r.Succeeded) ? ExitCodes.Failed : code;
        });
        return command;
    }

    /// <summary>Exit 1 when the named worker did not answer, or when no worker answered at all; the silent ones are named on stderr.</summary>
    private static int Outcome<T>(Terminal terminal, ControlReplies<T> replies, string? named)
    {
        if (replies.Missing.Count > 0)
        {
            terminal.Warn($"no reply in time from: {string.Join(", ", replies.Missing)}.");
        }

        if (named is not null && replies.Of(named) is null)
        {
            terminal.Error($"worker '{named}' did not answer (not in the registry, or busy or dead). 'celeriac status' lists the live workers.");
            return ExitCodes.NotFound;
        }

        if (replies.Replies.Count == 0)
        {
            terminal.Error("no worker answered (none is registered under this prefix, or none replied within --timeout).");
            return ExitCodes.NotFound;
        }

        return ExitCodes.Ok;
    }

    private static void WriteReplies<T>(Terminal terminal, ControlReplies<T> replies, Action<Utf8JsonWriter, T?> writeValue)
        => terminal.WriteJson(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("replies");
            foreach (WorkerReply<T> reply in replies.Replies)
            {
                w.WriteStartObject();
                w.WriteString("worker", reply.Worker);
                w.WritePropertyName("value");
                if (reply.Succeeded)
                {
                    writeValue(w, reply.Value);
                }
                else
                {
                    w.WriteNullValue();
                }

                w.WriteString("error", reply.Error);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            WriteStrings(w, "missing", replies.Missing);
            w.WriteEndObject();
        });

    public static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (string value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }

    private static void WriteTableOrNone(Terminal terminal, Table table, string none)
    {
        if (table.Rows.Count == 0)
        {
            terminal.Line(none);
        }
        else
        {
            terminal.Out.Write(table);
        }
    }

    private static string Int(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>A duration as people read it: 850ms, 12.3s, 4m05s, 3h12m, 2d04h.</summary>
    public static string Duration(TimeSpan t) => t.TotalSeconds switch
    {
        < 1 => $"{(int)t.TotalMilliseconds}ms",
        < 60 => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s",
        < 3600 => $"{(int)t.TotalMinutes}m{t.Seconds:00}s",
        < 86400 => $"{(int)t.TotalHours}h{t.Minutes:00}m",
        _ => $"{(int)t.TotalDays}d{t.Hours:00}h",
    };
}
