using System.CommandLine;
using System.Text.Json;
using Celeriac.Control;
using Celeriac.Inspection;
using Spectre.Console;

namespace Celeriac.Cli;

/// <summary><c>status</c>, <c>queues</c> and <c>purge</c>.</summary>
internal static class QueueCommands
{
    public static Command Status()
    {
        var command = new Command("status", "The system at a glance: every queue with its pending, scheduled, active and dead counts (and totals), and the live workers.");
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            Task<IReadOnlyList<WorkerInfo>> listing = context.Client.Workers.ListAsync(cancellationToken);
            IReadOnlyList<QueueCounts> queues = await ReadAllAsync(context.Client, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<WorkerInfo> workers = await listing.ConfigureAwait(false);
            var total = new QueueCounts("(total)", queues.Sum(q => q.Pending), queues.Sum(q => q.Scheduled), queues.Sum(q => q.Active), queues.Sum(q => q.Dead));
            Terminal terminal = context.Terminal;
            if (terminal.Json)
            {
                terminal.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("redis", context.Redis);
                    w.WriteString("prefix", context.Prefix);
                    w.WritePropertyName("queues");
                    WriteQueues(w, queues);
                    w.WritePropertyName("totals");
                    WriteCounts(w, total, withName: false);
                    w.WriteStartArray("workers");
                    foreach (WorkerInfo worker in workers)
                    {
                        w.WriteStartObject();
                        w.WriteString("id", worker.Id);
                        w.WriteString("host", worker.Host);
                        w.WriteNumber("pid", worker.ProcessId);
                        w.WriteString("version", worker.Version);
                        WorkerCommands.WriteStrings(w, "queues", worker.Queues);
                        w.WriteNumber("concurrency", worker.Concurrency);
                        w.WriteNumber("prefetch", worker.Prefetch);
                        w.WriteString("startedAt", worker.StartedAt.UtcDateTime);
                        w.WriteString("lastHeartbeat", worker.LastHeartbeat.UtcDateTime);
                        w.WriteNumber("processed", worker.Processed);
                        w.WriteNumber("failed", worker.Failed);
                        w.WriteNumber("active", worker.Active);
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                });
                return ExitCodes.Ok;
            }

            terminal.Line($"Redis {context.Redis}, prefix '{context.Prefix}': {queues.Count} queue{(queues.Count == 1 ? "" : "s")}, {total.Pending} pending, {total.Scheduled} scheduled, {total.Active} active, {total.Dead} dead");
            if (queues.Count > 0)
            {
                terminal.Out.Write(QueueTable(terminal, queues, total));
            }

            terminal.Line($"{workers.Count} live worker{(workers.Count == 1 ? "" : "s")}");
            if (workers.Count > 0)
            {
                DateTimeOffset now = DateTimeOffset.UtcNow;
                Table table = terminal.NewTable("WORKER", "HOST", "PID", "QUEUES", "CONCURRENCY", "ACTIVE", "PROCESSED", "FAILED", "UP", "HEARTBEAT");
                foreach (WorkerInfo worker in workers)
                {
                    table.AddRow(
                        Terminal.Cell(worker.Id, "bold"), Terminal.Cell(worker.Host), Terminal.Cell(Count(worker.ProcessId)), Terminal.Cell(string.Join(",", worker.Queues)),
                        Terminal.Cell(Count(worker.Concurrency)), Terminal.Cell(Count(worker.Active), worker.Active > 0 ? "green" : "grey"), Terminal.Cell(Count(worker.Processed)),
                        Terminal.Cell(Count(worker.Failed), worker.Failed > 0 ? "red" : "grey"), Terminal.Cell(WorkerCommands.Duration(now - worker.StartedAt)),
                        Terminal.Cell(WorkerCommands.Duration(now - worker.LastHeartbeat) + " ago"));
                }

                terminal.Out.Write(table);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Queues()
    {
        var command = new Command("queues", "Every queue in use (the registry workers and clients add theirs to) with its pending, scheduled, active and dead counts.");
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            IReadOnlyList<QueueCounts> queues = await ReadAllAsync(context.Client, cancellationToken).ConfigureAwait(false);
            Terminal terminal = context.Terminal;
            if (terminal.Json)
            {
                terminal.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WritePropertyName("queues");
                    WriteQueues(w, queues);
                    w.WriteEndObject();
                });
            }
            else if (queues.Count == 0)
            {
                terminal.Line($"No queues under prefix '{context.Prefix}' (a queue appears once a worker listens on it or a client sends to it).");
            }
            else
            {
                terminal.Out.Write(QueueTable(terminal, queues, total: null));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Purge()
    {
        var queue = new Argument<string>("queue") { Description = "The queue whose waiting messages are deleted." };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation (needed when stdin or stderr is not a terminal)." };
        var command = new Command("purge", "Deletes every waiting (pending) message of a queue for good, as Celery's purge. Scheduled and running tasks, dead letters and results stay.");
        command.Arguments.Add(queue);
        command.Options.Add(yes);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string name = context.Parsed.GetValue(queue)!;
            await RequireQueueAsync(context.Client, name, cancellationToken).ConfigureAwait(false);
            QueueCounts counts = await context.Client.GetQueueCountsAsync(name, cancellationToken).ConfigureAwait(false);
            Terminal terminal = context.Terminal;
            if (!context.Parsed.GetValue(yes))
            {
                Confirm(terminal, $"Delete the {counts.Pending} waiting message{(counts.Pending == 1 ? "" : "s")} of queue '{name}' for good?");
            }

            long purged = await terminal.WithProgressAsync($"purging {name}", counts.Pending,
                progress => context.Client.PurgeQueueAsync(name, progress, cancellationToken)).ConfigureAwait(false);
            if (terminal.Json)
            {
                terminal.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("queue", name);
                    w.WriteNumber("purged", purged);
                    w.WriteEndObject();
                });
            }
            else
            {
                terminal.Line($"Purged {purged} waiting message{(purged == 1 ? "" : "s")} from queue '{name}'.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Asks before a destructive step on a terminal; elsewhere refuses (exit 2) unless --yes was given.</summary>
    public static void Confirm(Terminal terminal, string question)
    {
        if (!terminal.CanAsk)
        {
            throw new CliException(ExitCodes.Usage, "refusing to delete without confirmation: stdin or stderr is not a terminal; pass --yes.");
        }

        if (!terminal.Confirm(question))
        {
            throw new CliException(ExitCodes.Usage, "not confirmed; nothing was deleted.");
        }
    }

    /// <summary>Fails with exit 1 when <paramref name="queue"/> is not in the registry (a typo would otherwise read as an empty queue).</summary>
    public static async Task RequireQueueAsync(CeleriacClient client, string queue, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> known = await client.GetQueuesAsync(cancellationToken).ConfigureAwait(false);
        if (!known.Contains(queue, StringComparer.Ordinal))
        {
            throw new CliException(ExitCodes.NotFound,
                $"no queue '{queue}' under this prefix; queues in use: {(known.Count == 0 ? "none" : string.Join(", ", known))}.");
        }
    }

    private static async Task<IReadOnlyList<QueueCounts>> ReadAllAsync(CeleriacClient client, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> names = await client.GetQueuesAsync(cancellationToken).ConfigureAwait(false);
        return await Task.WhenAll(names.Select(name => client.GetQueueCountsAsync(name, cancellationToken))).ConfigureAwait(false);
    }

    private static Table QueueTable(Terminal terminal, IReadOnlyList<QueueCounts> queues, QueueCounts? total)
    {
        Table table = terminal.NewTable("QUEUE", "PENDING", "SCHEDULED", "ACTIVE", "DEAD");
        foreach (QueueCounts q in queues)
        {
            table.AddRow(
                Terminal.Cell(q.Queue, "bold"),
                Terminal.Cell(Count(q.Pending), q.Pending > 0 ? "cyan" : "grey"),
                Terminal.Cell(Count(q.Scheduled), q.Scheduled > 0 ? "blue" : "grey"),
                Terminal.Cell(Count(q.Active), q.Active > 0 ? "green" : "grey"),
                Terminal.Cell(Count(q.Dead), q.Dead > 0 ? "red" : "grey"));
        }

        if (total is not null && queues.Count > 1)
        {
            table.AddRow(Terminal.Cell(total.Queue, "dim"), Terminal.Cell(Count(total.Pending)), Terminal.Cell(Count(total.Scheduled)), Terminal.Cell(Count(total.Active)), Terminal.Cell(Count(total.Dead)));
        }

        return table;
    }

    private static string Count(long n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void WriteQueues(Utf8JsonWriter w, IReadOnlyList<QueueCounts> queues)
    {
        w.WriteStartArray();
        foreach (QueueCounts q in queues)
        {
            WriteCounts(w, q, withName: true);
        }

        w.WriteEndArray();
    }

    private static void WriteCounts(Utf8JsonWriter w, QueueCounts q, bool withName)
    {
        w.WriteStartObject();
        if (withName)
        {
            w.WriteString("queue", q.Queue);
        }

        w.WriteNumber("pending", q.Pending);
        w.WriteNumber("scheduled", q.Scheduled);
        w.WriteNumber("active", q.Active);
        w.WriteNumber("dead", q.Dead);
        w.WriteEndObject();
    }
}
