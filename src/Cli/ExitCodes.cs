namespace Celeriac.Cli;

/// <summary>The exit codes of <c>celeriac</c>, one meaning each, for scripts (docs/cli.md lists them).</summary>
internal static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Ok = 0;

    /// <summary>What the command names does not exist: an unknown task id, a dead letter that is not there, a queue nobody uses.</summary>
    public const int NotFound = 1;

    /// <summary>The command line is wrong: an unknown command or option, a bad value, or a purge without confirmation where none can be asked for.</summary>
    public const int Usage = 2;

    /// <summary>Redis could not be reached: a wrong address, a server that is down, refused credentials or TLS settings.</summary>
    public const int Unreachable = 3;

    /// <summary>Redis was reached but the operation failed (an error reply, data that cannot be read).</summary>
    public const int Failed = 4;

    /// <summary>Interrupted (Ctrl-C), as shells report SIGINT.</summary>
    public const int Interrupted = 130;
}

/// <summary>An error the CLI reports in one line and ends with: the message for stderr and the exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    /// <summary>The exit code (<see cref="ExitCodes"/>).</summary>
    public int ExitCode { get; } = exitCode;
}
