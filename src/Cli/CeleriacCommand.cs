using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using Spectre.Console;
using StackExchange.Redis;

namespace Celeriac.Cli;

/// <summary>The command tree of <c>celeriac</c>, the options every command shares, and how an error becomes an exit code.</summary>
internal static class CeleriacCommand
{
    /// <summary>The environment variable read when <c>--redis</c> is not given.</summary>
    public const string RedisVariable = "CELERIAC_REDIS";

    /// <summary>The environment variable read when <c>--prefix</c> is not given.</summary>
    public const string PrefixVariable = "CELERIAC_PREFIX";

    public static readonly Option<string?> Redis = new("--redis", "-r")
    {
        Description = $"Where Redis is: a StackExchange.Redis configuration string (host:port,password=…,ssl=true). Default: ${RedisVariable}, else localhost:6379.",
        Recursive = true,
    };

    public static readonly Option<string?> Prefix = new("--prefix")
    {
        Description = $"The key prefix the workers and clients use (Celeriac:KeyPrefix). Default: ${PrefixVariable}, else celeriac.",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Write the result as JSON on stdout (stable shapes, docs/cli.md), for scripts.",
        Recursive = true,
    };

    /// <summary>Parses and runs a command line; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        Command root = Build();
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            var terminal = new Terminal(json: false);
            foreach (ParseError error in parsed.Errors)
            {
                terminal.Error(error.Message);
            }

            Console.Error.WriteLine("Run 'celeriac --help' (or 'celeriac <command> --help') for usage.");
            return ExitCodes.Usage;
        }

        return await parsed.InvokeAsync().ConfigureAwait(false);
    }

    private static Command Build()
    {
        // A command named celeriac (a RootCommand takes the executable's name: Celeriac.Cli under `dotnet tool`), with
        // the help and version options a RootCommand would add.
        var root = new Command("celeriac", "See and operate a Celeriac system over Redis: queues, workers, dead letters, revocations, results, inspect and control.");
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        root.Options.Add(Redis);
        root.Options.Add(Prefix);
        root.Options.Add(Json);
        root.Subcommands.Add(QueueCommands.Status());
        root.Subcommands.Add(QueueCommands.Queues());
        root.Subcommands.Add(QueueCommands.Purge());
        root.Subcommands.Add(DeadLetterCommands.Build());
        root.Subcommands.Add(TaskCommands.Revoke());
        root.Subcommands.Add(TaskCommands.Result());
        root.Subcommands.Add(WorkerCommands.Inspect());
        Command control = WorkerCommands.Control();
        control.Subcommands.Add(EventCommands.Switch());
        root.Subcommands.Add(control);
        root.Subcommands.Add(EventCommands.Events());
        return root;
    }

    /// <summary>
    /// Gives <paramref name="command"/> its action: connect (unless the command needs no client), run, and turn every
    /// failure into one line on stderr and an exit code.
    /// </summary>
    public static void SetAction(Command command, Func<CommandContext, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (ParseResult parsed, CancellationToken cancellationToken) =>
        {
            var terminal = new Terminal(parsed.GetValue(Json));
            string redis = parsed.GetValue(Redis) ?? NonEmpty(Environment.GetEnvironmentVariable(RedisVariable)) ?? "localhost:6379";
            string prefix = parsed.GetValue(Prefix) ?? NonEmpty(Environment.GetEnvironmentVariable(PrefixVariable)) ?? CeleriacOptions.DefaultKeyPrefix;
            CeleriacClient? client = null;
            try
            {
                client = await ConnectAsync(redis, prefix, cancellationToken).ConfigureAwait(false);
                return await action(new CommandContext(parsed, terminal, client, redis, prefix), cancellationToken).ConfigureAwait(false);
            }
            catch (CliException ex)
            {
                terminal.Error(ex.Message);
                return ex.ExitCode;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                terminal.Error("interrupted.");
                return ExitCodes.Interrupted;
            }
            catch (Exception ex) when (IsUnreachable(ex))
            {
                terminal.Error($"Redis at {Shown(redis)} stopped answering: {FirstLine(ex.Message)}");
                return ExitCodes.Unreachable;
            }
            catch (Exception ex) when (ex is RedisException or InvalidDataException or InvalidOperationException)
            {
                terminal.Error(FirstLine(ex.Message));
                return ExitCodes.Failed;
            }
            finally
            {
                if (client is not null)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                }
            }
        });
    }

    private static async Task<CeleriacClient> ConnectAsync(string redis, string prefix, CancellationToken cancellationToken)
    {
        var options = new CeleriacOptions { Redis = redis, KeyPrefix = prefix };
        if (options.Validate() is { } problem)
        {
            throw new CliException(ExitCodes.Usage, problem);
        }

        try
        {
            return await CeleriacClient.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or RedisException or TimeoutException or ArgumentException or System.Security.Authentication.AuthenticationException)
        {
            // The runtime's message already names the address and what to check (refused, unknown host, credentials, TLS).
            throw new CliException(ExitCodes.Unreachable, FirstLine(ex.Message).Replace("Celeriac:Redis", "--redis", StringComparison.Ordinal));
        }
    }

    private static bool IsUnreachable(Exception ex)
        => ex is RedisConnectionException or RedisTimeoutException or BrokerUnavailableException
           || (ex is AggregateException { InnerException: { } inner } && IsUnreachable(inner));

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string Shown(string redis)
    {
        try
        {
            return ConfigurationOptions.Parse(redis).ToString(includePassword: false);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException)
        {
            return redis;
        }
    }

    private static string FirstLine(string message)
    {
        int end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}

/// <summary>What a command's action works with.</summary>
internal sealed record CommandContext(ParseResult Parsed, Terminal Terminal, CeleriacClient Client, string Redis, string Prefix);
