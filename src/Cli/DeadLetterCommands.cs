using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Celeriac.Brokers;
using Celeriac.Inspection;
using Spectre.Console;

namespace Celeriac.Cli;

/// <summary><c>dlq list|show|requeue|purge</c>: the messages set aside because they could not be run.</summary>
internal static class DeadLetterCommands
{
    /// <summary>How many dead letters one step of a requeue or purge of a whole queue handles.</summary>
    private const int Batch = 500;

    public static Command Build()
    {
        var dlq = new Command("dlq", "Dead letters: messages set aside because they could not be run (unknown task, undecodable, retries exhausted, …).");
        dlq.Subcommands.Add(List());
        dlq.Subcommands.Add(Show());
        dlq.Subcommands.Add(Requeue());
        dlq.Subcommands.Add(Purge());
        return dlq;
    }

    private static Command List()
    {
        var queue = new Argument<string?>("queue") { Description = "Only this queue's dead letters (default: every queue).", Arity = ArgumentArity.ZeroOrOne };
        var limit = new Option<int>("--limit", "-n") { Description = "The most dead letters to read from each queue.", DefaultValueFactory = _ => 100 };
        limit.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("--limit must be at least 1.");
            }
        });
        var command = new Command("list", "Lists dead letters, oldest first: id, queue, task, when and why.");
        command.Arguments.Add(queue);
        command.Options.Add(limit);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string? name = context.Parsed.GetValue(queue);
            IReadOnlyList<string> queues;
            if (name is null)
            {
                queues = await context.Client.GetQueuesAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await QueueCommands.RequireQueueAsync(context.Client, name, cancellationToken).ConfigureAwait(false);
                queues = [name];
            }

            IReadOnlyList<DeadLetter> letters = queues.Count == 0 ? [] : await context.Client.GetAllDeadLettersAsync(queues, context.Parsed.GetValue(limit), cancellationToken).ConfigureAwait(false);
            Terminal terminal = context.Terminal;
            if (terminal.Json)
            {
                terminal.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WritePropertyName("deadLetters");
                    w.WriteStartArray();
                    foreach (DeadLetter letter in letters)
                    {
                        WriteSummary(w, letter);
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                });
                return ExitCodes.Ok;
            }

            if (letters.Count == 0)
            {
                terminal.Line(name is null ? "No dead letters." : $"No dead letters in queue '{name}'.");
                return ExitCodes.Ok;
            }

            Table table = terminal.NewTable("ID", "QUEUE", "TASK", "RETRIES", "SINCE (UTC)", "REASON");
            foreach (DeadLetter letter in letters)
            {
                table.AddRow(
                    Terminal.Cell(letter.Id, "bold"),
                    Terminal.Cell(letter.Queue),
                    Terminal.Cell(letter.TaskName ?? "(undecodable)", letter.TaskName is null ? "red" : null),
                    Terminal.Cell(letter.Retries?.ToString(CultureInfo.InvariantCulture)),
                    Terminal.Cell(Time(letter.At)),
                    Terminal.Cell(letter.Reason, "red"));
            }

            terminal.Out.Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Show()
    {
        var id = new Argument<string>("id") { Description = "The task id of the dead letter." };
        var queue = new Option<string?>("--queue", "-q") { Description = "The queue that holds it (default: found by id)." };
        var command = new Command("show", "Shows one dead letter in full: why it was set aside and what its message says (task, arguments as JSON, headers, parent).");
        command.Arguments.Add(id);
        command.Options.Add(queue);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string taskId = context.Parsed.GetValue(id)!;
            string? name = context.Parsed.GetValue(queue);
            if (name is null)
            {
                TaskLocation? location = await context.Client.FindTaskAsync(taskId, cancellationToken).ConfigureAwait(false);
                name = location is { Place: TaskPlace.Dead } ? location.Queue : throw NotADeadLetter(taskId, location);
            }

            DeadLetter letter = await context.Client.GetDeadLetterAsync(name, taskId, cancellationToken).ConfigureAwait(false)
                ?? throw new CliException(ExitCodes.NotFound, $"task '{taskId}' is not a dead letter of queue '{name}'.");
            MessageDetails? message = letter.Envelope.IsEmpty ? null : MessageDetails.TryRead(letter.Envelope);
            Terminal terminal = context.Terminal;
            if (terminal.Json)
            {
                terminal.WriteJson(w =>
                {
                    WriteSummary(w, letter);
                    w.WriteNumber("envelopeBytes", letter.Envelope.Length);
                    w.WritePropertyName("message");
                    if (message is null)
                    {
                        w.WriteNullValue();
                    }
                    else
                    {
                        WriteMessage(w, message);
                    }

                    w.WriteEndObject();
                });
                return ExitCodes.Ok;
            }

            var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
            void Row(string label, string? value, string? style = null) => grid.AddRow(Terminal.Cell(label, "bold"), Terminal.Cell(value, style));
            Row("id", letter.Id);
            Row("queue", letter.Queue);
            Row("task", letter.TaskName ?? "(undecodable envelope)");
            Row("reason", letter.Reason, "red");
            Row("dead since", Time(letter.At) + " UTC");
            Row("retries", letter.Retries?.ToString(CultureInfo.InvariantCulture));
            Row("envelope", letter.Envelope.Length.ToString(CultureInfo.InvariantCulture) + " bytes");
            if (message is not null)
            {
                Row("arguments", MessagePackJson.ToText(message.Arguments));
                Row("created", Time(message.Created) + " UTC");
                if (message.Eta is { } eta)
                {
                    Row("eta", Time(eta) + " UTC");
                }

                if (message.Expires is { } expires)
                {
                    Row("expires", Time(expires) + " UTC");
                }

                Row("priority", message.Priority.ToString(CultureInfo.InvariantCulture));
                if (message.ParentId is not null)
                {
                    Row("parent", message.ParentId);
                }

                if (message.RootId is not null && message.RootId != message.Id)
                {
                    Row("root", message.RootId);
                }

                foreach ((string key, string value) in message.Headers.OrderBy(h => h.Key, StringComparer.Ordinal))
                {
                    Row("header " + key, value);
                }
            }

            terminal.Out.Write(grid);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Requeue()
    {
        var queue = new Argument<string>("queue") { Description = "The queue whose dead letters are put back." };
        var ids = new Argument<string[]>("ids") { Description = "The task ids to requeue.", Arity = ArgumentArity.ZeroOrMore };
        var all = new Option<bool>("--all") { Description = "Requeue every dead letter of the queue." };
        var command = new Command("requeue", "Puts dead letters back on their queue as new deliveries (their retry count starts again; their old result is forgotten).");
        command.Arguments.Add(queue);
        command.Arguments.Add(ids);
        command.Options.Add(all);
        command.Validators.Add(result =>
        {
            bool any = result.GetValue(ids) is { Length: > 0 };
            if (any == result.GetValue(all))
            {
                result.AddError(any ? "give task ids or --all, not both." : "give the task ids to requeue, or --all.");
            }
        });
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string name = context.Parsed.GetValue(queue)!;
            await QueueCommands.RequireQueueAsync(context.Client, name, cancellationToken).ConfigureAwait(false);
            string[] given = context.Parsed.GetValue(ids) ?? [];
            List<string> missing = [];
            long requeued;
            if (given.Length > 0)
            {
                missing = await MissingAsync(context.Client, name, given, cancellationToken).ConfigureAwait(false);
                string[] present = [.. given.Except(missing, StringComparer.Ordinal)];
                requeued = present.Length == 0 ? 0 : await context.Client.RequeueDeadLettersAsync(name, present, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                QueueCounts counts = await context.Client.GetQueueCountsAsync(name, cancellationToken).ConfigureAwait(false);
                requeued = await context.Terminal.WithProgressAsync($"requeueing {name}", counts.Dead, async progress =>
                {
                    long done = 0;
                    while (true)
                    {
                        IReadOnlyList<DeadLetter> batch = await context.Client.GetDeadLettersAsync(name, Batch, cancellationToken).ConfigureAwait(false);
                        int n = batch.Count == 0 ? 0 : await context.Client.RequeueDeadLettersAsync(name, [.. batch.Select(l => l.Id)], cancellationToken).ConfigureAwait(false);
                        if (n == 0)
                        {
                            return done; // empty, or only entries that cannot be requeued are left
                        }

                        done += n;
                        progress.Report(done);
                    }
                }).ConfigureAwait(false);
            }

            return Report(context.Terminal, "requeued", name, requeued, missing);
        });
        return command;
    }

    private static Command Purge()
    {
        var queue = new Argument<string>("queue") { Description = "The queue whose dead letters are deleted." };
        var ids = new Argument<string[]>("ids") { Description = "The task ids to delete (default: every dead letter of the queue).", Arity = ArgumentArity.ZeroOrMore };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation before deleting every dead letter (needed when not on a terminal)." };
        var command = new Command("purge", "Deletes dead letters for good: the given ids, or every dead letter of the queue.");
        command.Arguments.Add(queue);
        command.Arguments.Add(ids);
        command.Options.Add(yes);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string name = context.Parsed.GetValue(queue)!;
            await QueueCommands.RequireQueueAsync(context.Client, name, cancellationToken).ConfigureAwait(false);
            string[] given = context.Parsed.GetValue(ids) ?? [];
            List<string> missing = [];
            long purged;
            if (given.Length > 0)
            {
                missing = await MissingAsync(context.Client, name, given, cancellationToken).ConfigureAwait(false);
                string[] present = [.. given.Except(missing, StringComparer.Ordinal)];
                purged = present.Length == 0 ? 0 : await context.Client.PurgeDeadLettersAsync(name, present, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                QueueCounts counts = await context.Client.GetQueueCountsAsync(name, cancellationToken).ConfigureAwait(false);
                if (!context.Parsed.GetValue(yes))
                {
                    QueueCommands.Confirm(context.Terminal, $"Delete all {counts.Dead} dead letter{(counts.Dead == 1 ? "" : "s")} of queue '{name}' for good?");
                }

                purged = await context.Terminal.WithProgressAsync($"purging dead letters of {name}", counts.Dead, async progress =>
                {
                    long done = 0;
                    while (true)
                    {
                        IReadOnlyList<DeadLetter> batch = await context.Client.GetDeadLettersAsync(name, Batch, cancellationToken).ConfigureAwait(false);
                        long n = batch.Count == 0 ? 0 : await context.Client.PurgeDeadLettersAsync(name, [.. batch.Select(l => l.Id)], cancellationToken).ConfigureAwait(false);
                        if (n == 0)
                        {
                            // Entries whose message is gone are not listed: the broker's own sweep deletes those too.
                            return done + await context.Client.PurgeDeadLettersAsync(name, null, cancellationToken).ConfigureAwait(false);
                        }

                        done += n;
                        progress.Report(done);
                    }
                }).ConfigureAwait(false);
            }

            return Report(context.Terminal, "purged", name, purged, missing);
        });
        return command;
    }

    private static async Task<List<string>> MissingAsync(CeleriacClient client, string queue, string[] ids, CancellationToken cancellationToken)
    {
        DeadLetter?[] found = await Task.WhenAll(ids.Select(id => client.GetDeadLetterAsync(queue, id, cancellationToken))).ConfigureAwait(false);
        return [.. ids.Where((_, i) => found[i] is null)];
    }

    private static int Report(Terminal terminal, string verb, string queue, long count, List<string> missing)
    {
        if (terminal.Json)
        {
            terminal.WriteJson(w =>
            {
                w.WriteStartObject();
                w.WriteString("queue", queue);
                w.WriteNumber(verb, count);
                w.WriteStartArray("notFound");
                foreach (string id in missing)
                {
                    w.WriteStringValue(id);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        }
        else
        {
            terminal.Line($"{char.ToUpperInvariant(verb[0])}{verb[1..]} {count} dead letter{(count == 1 ? "" : "s")} of queue '{queue}'.");
        }

        if (missing.Count > 0)
        {
            terminal.Error($"not dead letters of queue '{queue}': {string.Join(", ", missing)}.");
            return ExitCodes.NotFound;
        }

        return ExitCodes.Ok;
    }

    private static CliException NotADeadLetter(string taskId, TaskLocation? location)
        => new(ExitCodes.NotFound, location is null
            ? $"no dead letter with id '{taskId}' in any queue."
            : $"task '{taskId}' is not a dead letter: it is {location.Place.ToString().ToLowerInvariant()} in queue '{location.Queue}'.");

    /// <summary>Opens an object and writes the fields every dead letter shows (the caller adds more and closes it).</summary>
    private static void WriteSummary(Utf8JsonWriter w, DeadLetter letter)
    {
        w.WriteStartObject();
        w.WriteString("id", letter.Id);
        w.WriteString("queue", letter.Queue);
        w.WriteString("task", letter.TaskName);
        w.WriteString("reason", letter.Reason);
        w.WriteString("deadAt", letter.At.UtcDateTime);
        if (letter.Retries is { } retries)
        {
            w.WriteNumber("retries", retries);
        }
        else
        {
            w.WriteNull("retries");
        }
    }

    private static void WriteMessage(Utf8JsonWriter w, MessageDetails message)
    {
        w.WriteStartObject();
        w.WriteString("task", message.TaskName);
        w.WriteString("queue", message.Queue);
        w.WriteNumber("retries", message.Retries);
        w.WriteNumber("priority", message.Priority);
        w.WriteString("created", message.Created.UtcDateTime);
        WriteTime(w, "eta", message.Eta);
        WriteTime(w, "expires", message.Expires);
        w.WriteString("parentId", message.ParentId);
        w.WriteString("rootId", message.RootId);
        w.WriteStartObject("headers");
        foreach ((string key, string value) in message.Headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            w.WriteString(key, value);
        }

        w.WriteEndObject();
        w.WritePropertyName("args");
        MessagePackJson.Write(w, message.Arguments);
        w.WriteEndObject();
    }

    public static void WriteTime(Utf8JsonWriter w, string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            w.WriteString(name, v.UtcDateTime);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
