using System.CommandLine;
using Celeriac.Cli;

// celeriac: see docs/cli.md for every command, its output, the JSON shapes and the exit codes.
return await CeleriacCommand.RunAsync(args).ConfigureAwait(false);
