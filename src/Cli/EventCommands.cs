using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Celeriac.Cli;

/// <summary><c>events</c>: the task event stream (docs/observability.md), as a snapshot or followed live; and <c>control events on|off|default</c>.</summary>
internal static class EventCommands
{
    public static Command Events()
    {
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep reading: print each event as it is written, until Ctrl-C (or --seconds)." };
        var limit = new Option<int>("--limit", "-n") { Description = "How many of the newest events to print first (0 with --follow: only new ones).", DefaultValueFactory = _ => 20 };
        limit.Validators.Add(result =>
        {
            int value = result.GetValueOrDefault<int>();
            if (value is < 0 or > 10_000)
            {
                result.AddError("--limit must be between 0 and 10000.");
            }
        });
        var after = new Option<string?>("--after") { Description = "With --follow: catch up from this event id (one printed before; 0-0 for all the stream keeps) instead of the newest --limit." };
        var seconds = new Option<double?>("--seconds") { Description = "With --follow: stop after this many seconds (exit 0), for scripts." };
        seconds.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<double?>() is { } value && !(value > 0))
            {
                result.AddError("--seconds must be more than 0.");
            }
        });
        var command = new Command("events", "Task and worker events (sent, received, started, succeeded, failed, retried, revoked, dead-lettered; worker online, heartbeat, offline): the newest, or followed live with --follow. With --json, one JSON object per line.");
        command.Options.Add(follow);
        command.Options.Add(limit);
        command.Options.Add(after);
        command.Options.Add(seconds);
        command.Validators.Add(result =>
        {
            if (!result.GetValue(follow) && (result.GetValue(after) is not null || result.GetValue(seconds) is not null))
            {
                result.AddError("--after and --seconds go with --follow.");
            }
        });
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            Terminal terminal = context.Terminal;
            TaskEventClient events = context.Client.Events;
            int newest = context.Parsed.GetValue(limit);
            string? from = context.Parsed.GetValue(after);
            if (!context.Parsed.GetValue(follow))
            {
                foreach (TaskEvent e in newest == 0 ? [] : await events.ReadLatestAsync(newest, cancellationToken).ConfigureAwait(false))
                {
                    Write(terminal, e);
                }

                return ExitCodes.Ok;
            }

            if (from is null && newest > 0)
            {
                IReadOnlyList<TaskEvent> latest = await events.ReadLatestAsync(newest, cancellationToken).ConfigureAwait(false);
                foreach (TaskEvent e in latest)
                {
                    Write(terminal, e);
                }

                from = latest.Count > 0 ? latest[^1].Id : null;
            }

            if (!terminal.Json && await events.GetEnabledAsync(cancellationToken).ConfigureAwait(false) == false)
            {
                terminal.Warn("events are switched off ('celeriac control events on' switches them on).");
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (context.Parsed.GetValue(seconds) is { } limitSeconds)
            {
                stop.CancelAfter(TimeSpan.FromSeconds(limitSeconds));
            }

            try
            {
                await foreach (TaskEvent e in events.ReadAsync(from, stop.Token).ConfigureAwait(false))
                {
                    Write(terminal, e);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Ctrl-C or --seconds: the normal end of following.
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Switch()
    {
        var state = new Argument<string>("state") { Description = "on, off, or default (each worker's own WorkerOptions.Events)." };
        state.AcceptOnlyFromAmong("on", "off", "default");
        var command = new Command("events", "Switches task events on or off on every worker at once (at run time), or hands the choice back to each worker's option.");
        command.Arguments.Add(state);
        CeleriacCommand.SetAction(command, async (context, cancellationToken) =>
        {
            bool? enabled = context.Parsed.GetValue(state) switch { "on" => true, "off" => false, _ => null };
            await context.Client.Events.SetEnabledAsync(enabled, cancellationToken).ConfigureAwait(false);
            if (context.Terminal.Json)
            {
                context.Terminal.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WritePropertyName("events");
                    if (enabled is { } on)
                    {
                        w.WriteBooleanValue(on);
                    }
                    else
                    {
                        w.WriteNullValue();
                    }

                    w.WriteEndObject();
                });
            }
            else
            {
                context.Terminal.Line(enabled switch
                {
                    true => "Task events are on for every worker.",
                    false => "Task events are off for every worker.",
                    null => "Task events follow each worker's own option again.",
                });
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The wire name of a kind: TaskDeadLettered → task-dead-lettered.</summary>
    public static string KindName(TaskEventKind kind)
    {
        string name = kind.ToString();
        var text = new StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('-');
            }

            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }

    private static void Write(Terminal terminal, TaskEvent e)
    {
        if (terminal.Json)
        {
            terminal.WriteJsonLine(w =>
            {
                w.WriteStartObject();
                w.WriteString("id", e.Id);
                w.WriteString("type", KindName(e.Kind));
                w.WriteString("timestamp", e.Timestamp.UtcDateTime);
                w.WriteString("source", e.Source);
                Optional(w, "taskId", e.TaskId);
                Optional(w, "task", e.TaskName);
                Optional(w, "queue", e.Queue);
                if (e.TaskId is not null)
                {
                    w.WriteNumber("retries", e.Retries);
                }

                Optional(w, "errorType", e.ErrorType);
                Optional(w, "errorMessage", e.ErrorMessage);
                Optional(w, "reason", e.Reason);
                if (e.Runtime is { } runtime)
                {
                    w.WriteNumber("runtimeMs", Math.Round(runtime.TotalMilliseconds, 3));
                }

                if (e.Eta is { } eta)
                {
                    w.WriteString("eta", eta.UtcDateTime);
                }

                if (e.Active is { } active)
                {
                    w.WriteNumber("active", active);
                }

                if (e.Processed is { } processed)
                {
                    w.WriteNumber("processed", processed);
                }

                if (e.Load is { } load)
                {
                    w.WriteNumber("load", load);
                }

                w.WriteEndObject();
            });
            return;
        }

        var line = new StringBuilder();
        string kind = KindName(e.Kind);
        string detail = e.TaskId is not null
            ? $"{e.TaskId} {e.TaskName ?? "?"} [{e.Queue}]"
            : $"{e.Source}";
        line.Append(detail);
        if (e.Retries > 0)
        {
            line.Append(" retries=").Append(e.Retries);
        }

        if (e.Runtime is { } took)
        {
            line.Append(" runtime=").Append(WorkerCommands.Duration(took));
        }

        if (e.ErrorType is not null)
        {
            line.Append(' ').Append(e.ErrorType).Append(": ").Append(e.ErrorMessage);
        }

        if (e.Reason is not null)
        {
            line.Append(" reason=").Append(e.Reason);
        }

        if (e.Eta is { } due)
        {
            line.Append(" eta=").Append(DeadLetterCommands.Time(due));
        }

        if (e.Active is { } a)
        {
            line.Append(" active=").Append(a);
        }

        if (e.Processed is { } p)
        {
            line.Append(" processed=").Append(p);
        }

        if (e.TaskId is not null)
        {
            line.Append(" by ").Append(e.Source);
        }

        string sgr = e.Kind switch
        {
            TaskEventKind.TaskSucceeded => "32",
            TaskEventKind.TaskFailed or TaskEventKind.TaskDeadLettered => "31",
            TaskEventKind.TaskRetried or TaskEventKind.TaskRevoked => "33",
            TaskEventKind.WorkerOnline or TaskEventKind.WorkerOffline or TaskEventKind.WorkerHeartbeat => "34",
            _ => "36",
        };
        terminal.RawLine(e.Timestamp.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture) + "  ", kind.PadRight(20), sgr, line.ToString());
    }

    private static void Optional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }
}
