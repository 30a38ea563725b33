using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Celeriac.Inspection;
using Spectre.Console;

namespace Celeriac.Cli;

/// <summary><c>revoke</c> and <c>result</c>: one task by id.</summary>
internal static class TaskCommands
{
    public static Command Revoke()
    {
        var id = new Argument<string>("id") { Description = "The task id." };
        var force = new Option<bool>("--force") { Description = "Revoke even when no queue holds the id and no result exists (a task sent later with this id is revoked)." };
        var command = new Command("revoke", "Revokes a task wherever it is (queued, scheduled or running): it ends REVOKED instead of running, or is cancelled if it runs.");
        command.Arguments.Add(id);
        command.Options.Add(force);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string taskId = context.Parsed.GetValue(id)!;
            Task<TaskResult> read = context.Client.GetResultAsync(taskId, cancellationToken).AsTask();
            TaskLocation? location = await context.Client.FindTaskAsync(taskId, cancellationToken).ConfigureAwait(false);
            TaskResult result = await read.ConfigureAwait(false);
            Terminal terminal = context.Terminal;
            bool revoked = false;
            if (result.IsReady && location is null)
            {
                // Finished: a revocation would change nothing.
            }
            else if (location is null && result.State == TaskState.Pending && !context.Parsed.GetValue(force))
            {
                throw new CliException(ExitCodes.NotFound, $"no task with id '{taskId}': no queue holds it and it has no result (finished long ago, purged, or never sent). Pass --force to revoke the id anyway.");
            }
            else
            {
                await context.Client.RevokeAsync(taskId, cancellationToken: cancellationToken).ConfigureAwait(false);
                revoked = true;
            }

            if (terminal.Json)
            {
                terminal.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("id", taskId);
                    w.WriteBoolean("revoked", revoked);
                    w.WriteString("state", StateName(result.State));
                    w.WritePropertyName("location");
                    WriteLocation(w, location);
                    w.WriteEndObject();
                });
            }
            else if (!revoked)
            {
                terminal.Line($"Task {taskId} already finished ({StateName(result.State)}); nothing to revoke.");
            }
            else
            {
                terminal.Line(location is null
                    ? $"Revoked {taskId} (no queue holds it now; a task sent with this id is revoked)."
                    : $"Revoked {taskId} ({location.TaskName ?? "?"}, {Place(location)} in queue '{location.Queue}').", "green");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Result()
    {
        var id = new Argument<string>("id") { Description = "The task id." };
        var queue = new Option<string?>("--queue", "-q") { Description = "The queue the task was sent to (default: looked up in every queue)." };
        var command = new Command("result", "Shows a task's state and outcome: its value (as JSON) or its error, and where its message is while it has not finished.");
        command.Arguments.Add(id);
        command.Options.Add(queue);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            string taskId = context.Parsed.GetValue(id)!;
            TaskResult result = await context.Client.GetResultAsync(taskId, context.Parsed.GetValue(queue), cancellationToken).ConfigureAwait(false);
            TaskLocation? location = result.IsReady ? null : await context.Client.FindTaskAsync(taskId, cancellationToken).ConfigureAwait(false);
            if (result.State == TaskState.Pending && location is null)
            {
                throw new CliException(ExitCodes.NotFound, $"no task with id '{taskId}': no result is stored and no queue holds it (never sent, purged, or its result expired).");
            }

            Terminal terminal = context.Terminal;
            if (terminal.Json)
            {
                terminal.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("id", taskId);
                    w.WriteString("state", StateName(result.State));
                    w.WriteString("task", result.TaskName ?? location?.TaskName);
                    w.WriteNumber("retries", result.Retries);
                    DeadLetterCommands.WriteTime(w, "timestamp", result.Timestamp);
                    w.WriteString("worker", result.Worker);
                    w.WritePropertyName("value");
                    if (result.State == TaskState.Success && !result.Value.IsEmpty)
                    {
                        MessagePackJson.Write(w, result.Value);
                    }
                    else
                    {
                        w.WriteNullValue();
                    }

                    w.WritePropertyName("error");
                    if (result.Error is { } error)
                    {
                        w.WriteStartObject();
                        w.WriteString("type", error.Type);
                        w.WriteString("message", error.Message);
                        w.WriteString("stackTrace", error.StackTrace);
                        w.WriteEndObject();
                    }
                    else
                    {
                        w.WriteNullValue();
                    }

                    w.WritePropertyName("location");
                    WriteLocation(w, location);
                    w.WriteEndObject();
                });
                return ExitCodes.Ok;
            }

            var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
            void Row(string label, string? value, string? style = null) => grid.AddRow(Terminal.Cell(label, "bold"), Terminal.Cell(value, style));
            Row("id", taskId);
            Row("state", StateName(result.State), result.State switch
            {
                TaskState.Success => "green",
                TaskState.Failure => "red",
                TaskState.Revoked => "yellow",
                _ => "cyan",
            });
            Row("task", result.TaskName ?? location?.TaskName);
            Row("retries", result.Retries.ToString(CultureInfo.InvariantCulture));
            if (result.Timestamp is { } at)
            {
                Row("at", DeadLetterCommands.Time(at) + " UTC");
            }

            if (result.Worker is not null)
            {
                Row("worker", result.Worker);
            }

            if (result.State == TaskState.Success)
            {
                Row("value", result.Value.IsEmpty ? "(none)" : MessagePackJson.ToText(result.Value));
            }

            if (result.Error is { } failure)
            {
                Row("error", failure.Type + ": " + failure.Message, "red");
            }

            if (location is not null)
            {
                Row("message", $"{Place(location)} in queue '{location.Queue}', delivered {location.Deliveries} time{(location.Deliveries == 1 ? "" : "s")}");
            }

            terminal.Out.Write(grid);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Celery's spelling of a state: PENDING, STARTED, SUCCESS, …</summary>
    public static string StateName(TaskState state) => state.ToString().ToUpperInvariant();

    private static string Place(TaskLocation location) => location.Place switch
    {
        TaskPlace.Scheduled when location.Since is { } due => "scheduled for " + DeadLetterCommands.Time(due) + " UTC",
        TaskPlace.Active => "active (leased to a worker)",
        TaskPlace.Dead => "dead-lettered",
        _ => location.Place.ToString().ToLowerInvariant(),
    };

    private static void WriteLocation(Utf8JsonWriter w, TaskLocation? location)
    {
        if (location is null)
        {
            w.WriteNullValue();
            return;
        }

        w.WriteStartObject();
        w.WriteString("queue", location.Queue);
        w.WriteString("place", location.Place.ToString().ToLowerInvariant());
        DeadLetterCommands.WriteTime(w, "since", location.Since);
        w.WriteNumber("deliveries", location.Deliveries);
        w.WriteString("task", location.TaskName);
        w.WriteEndObject();
    }
}
