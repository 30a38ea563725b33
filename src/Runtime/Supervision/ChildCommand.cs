namespace Celeriac.Supervision;

/// <summary>How the supervisor starts a copy of itself: the same executable with the same arguments.</summary>
/// <param name="FileName">The executable.</param>
/// <param name="Arguments">Its arguments.</param>
internal sealed record ChildCommand(string FileName, IReadOnlyList<string> Arguments)
{
    /// <summary>
    /// This process's own command. A Native AOT binary or an apphost is <see cref="Environment.ProcessPath"/> itself,
    /// with the arguments after the first of <see cref="Environment.GetCommandLineArgs"/>. Under <c>dotnet app.dll</c>
    /// the process is the <c>dotnet</c> host, and the first of those arguments is the application's path, which the
    /// child must be given too. (The host's own options, as in <c>dotnet exec --runtimeconfig x app.dll</c>, are not
    /// seen by the application and are not repeated.)
    /// </summary>
    public static ChildCommand OfThisProcess()
    {
        string path = Environment.ProcessPath
            ?? throw new InvalidOperationException("Celeriac:Worker:Processes: the path of this process's executable is unknown (Environment.ProcessPath), so it cannot start copies of itself.");
        string[] args = Environment.GetCommandLineArgs();
        bool dotnetHost = string.Equals(Path.GetFileNameWithoutExtension(path), "dotnet", StringComparison.OrdinalIgnoreCase);
        return new ChildCommand(path, dotnetHost ? args : args[1..]);
    }

    /// <inheritdoc />
    public override string ToString() => FileName + (Arguments.Count == 0 ? "" : " " + string.Join(' ', Arguments));
}
