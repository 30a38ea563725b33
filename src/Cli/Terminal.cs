using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Celeriac.Cli;

/// <summary>
/// Where the CLI writes: tables and text on stdout (colours only when stdout is a terminal and <c>NO_COLOR</c> is not
/// set), JSON on stdout with <c>--json</c>, errors, prompts and progress on stderr (so that a pipe gets only data).
/// </summary>
internal sealed class Terminal
{
    /// <summary>JSON text as people and jq read it: only what JSON requires is escaped (stdout is not HTML).</summary>
    private static readonly System.Text.Encodings.Web.JavaScriptEncoder JsonEncoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    private readonly TextWriter _out = Console.Out;

    public Terminal(bool json)
    {
        Json = json;
        OutIsTerminal = !Console.IsOutputRedirected;
        ErrIsTerminal = !Console.IsErrorRedirected;
        bool colour = string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        Out = Create(Console.Out, OutIsTerminal, colour);
        Err = Create(Console.Error, ErrIsTerminal, colour);
    }

    /// <summary>Whether <c>--json</c> was given: data goes out as JSON, and nothing else goes to stdout.</summary>
    public bool Json { get; }

    /// <summary>Whether stdout is a terminal (tables get borders and colours).</summary>
    public bool OutIsTerminal { get; }

    /// <summary>Whether stderr is a terminal (progress bars are drawn there).</summary>
    public bool ErrIsTerminal { get; }

    /// <summary>Whether a question can be asked: stdin and stderr are both terminals.</summary>
    public bool CanAsk => ErrIsTerminal && !Console.IsInputRedirected;

    /// <summary>The console of stdout.</summary>
    public IAnsiConsole Out { get; }

    /// <summary>The console of stderr.</summary>
    public IAnsiConsole Err { get; }

    /// <summary>A table that fits the terminal: rounded borders on a terminal, none (space-aligned columns, greppable) in a pipe.</summary>
    public Table NewTable(params string[] columns)
    {
        var table = new Table().Border(OutIsTerminal ? TableBorder.Rounded : TableBorder.None);
        foreach (string column in columns)
        {
            var c = new TableColumn(new Text(column, new Style(decoration: Decoration.Bold)));
            if (column is "PENDING" or "SCHEDULED" or "ACTIVE" or "DEAD" or "RETRIES" or "DELIVERIES" or "PID" or "CONCURRENCY" or "PROCESSED" or "FAILED" or "RESERVED" or "UP" or "HEARTBEAT" or "RUNTIME")
            {
                c.RightAligned();
            }

            if (column is "ID" or "WORKER" or "SINCE (UTC)" || c.Alignment == Justify.Right)
            {
                c.NoWrap(); // ids stay whole (they are copied into the next command), numbers and times too; names and reasons wrap
            }

            table.AddColumn(c);
        }

        return table;
    }

    /// <summary>Plain text (never parsed as markup) in an optional style.</summary>
    public static IRenderable Cell(string? text, string? style = null)
        => new Text(text ?? "-", style is null ? Style.Plain : Style.Parse(style));

    /// <summary>Whether stdout gets colours: a terminal, and NO_COLOR not set.</summary>
    public bool OutColoured => OutIsTerminal && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    /// <summary>Writes one line on stdout as it is (never wrapped: a log line), with one span coloured (an ANSI SGR code) when colours are on.</summary>
    public void RawLine(string before, string coloured, string sgr, string after)
    {
        _out.WriteLine(OutColoured ? $"{before}\e[{sgr}m{coloured}\e[0m{after}" : before + coloured + after);
        _out.Flush();
    }

    /// <summary>Writes a line of plain text on stdout.</summary>
    public void Line(string text) => Out.WriteLine(text);

    /// <summary>Writes a line on stdout in a style (plain without colour).</summary>
    public void Line(string text, string style) => Out.Write(new Text(text + Environment.NewLine, Style.Parse(style)));

    /// <summary>Writes an error line on stderr: <c>celeriac: error: …</c> (red on a terminal, never wrapped).</summary>
    public void Error(string message) => Diagnostic("error", "\e[1;31m", message);

    /// <summary>Writes a warning line on stderr: <c>celeriac: warning: …</c>.</summary>
    public void Warn(string message) => Diagnostic("warning", "\e[33m", message);

    private void Diagnostic(string kind, string colour, string message)
    {
        bool coloured = ErrIsTerminal && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        Console.Error.WriteLine(coloured ? $"{colour}celeriac: {kind}:\e[0m {message}" : $"celeriac: {kind}: {message}");
    }

    /// <summary>Writes one JSON document on stdout (indented, then a newline).</summary>
    public void WriteJson(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JsonEncoder }))
        {
            write(writer);
        }

        _out.Write(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        _out.WriteLine();
        _out.Flush();
    }

    /// <summary>Writes one JSON object on one line of stdout (JSON Lines, for streams), flushed at once.</summary>
    public void WriteJsonLine(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonEncoder }))
        {
            write(writer);
        }

        _out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        _out.Flush();
    }

    /// <summary>Asks a yes/no question on stderr and reads the answer from stdin (default no).</summary>
    public bool Confirm(string question)
    {
        Err.Write(new Text(question + " [y/N] ", new Style(decoration: Decoration.Bold)));
        string? answer = Console.In.ReadLine();
        return answer is not null && (answer.Trim().Equals("y", StringComparison.OrdinalIgnoreCase) || answer.Trim().Equals("yes", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Runs a long operation over <paramref name="total"/> items with a progress bar on stderr when it is a terminal
    /// (and not in JSON mode); otherwise silently. <paramref name="run"/> reports the running count.
    /// </summary>
    public async Task<long> WithProgressAsync(string description, long total, Func<IProgress<long>, Task<long>> run)
    {
        if (!ErrIsTerminal || Json || total <= 0)
        {
            return await run(new Progress<long>(_ => { })).ConfigureAwait(false);
        }

        long result = 0;
        await Err.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                ProgressTask task = context.AddTask(description, maxValue: total);
                result = await run(new SyncProgress(done => task.Value = Math.Min(done, total))).ConfigureAwait(false);
                task.Value = total;
            }).ConfigureAwait(false);
        return result;
    }

    private static IAnsiConsole Create(TextWriter writer, bool terminal, bool colour)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No, // NO_COLOR drops colours, not the progress bar's cursor movement
            ColorSystem = terminal && colour ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        if (!terminal)
        {
            // In a pipe there is no terminal to fit: COLUMNS when set, else wide enough that rows do not wrap.
            console.Profile.Width = int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int columns) && columns > 20 ? columns : 240;
        }

        return console;
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (Progress&lt;T&gt; posts to the pool, late).</summary>
    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
