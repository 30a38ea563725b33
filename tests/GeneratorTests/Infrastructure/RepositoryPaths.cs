namespace Celeriac.GeneratorTests.Infrastructure;

/// <summary>
/// Where the repository and this test project are, found from the test assembly's own directory. Not from
/// <c>[CallerFilePath]</c>: a CI build (<c>ContinuousIntegrationBuild</c>) maps source paths to <c>/_/</c>, so a path
/// compiled into the tests names no directory on the machine.
/// </summary>
internal static class RepositoryPaths
{
    /// <summary>The directory holding <c>Celeriac.slnx</c>.</summary>
    public static string Root { get; } = Above("Celeriac.slnx");

    /// <summary>The directory holding <c>Celeriac.GeneratorTests.csproj</c>.</summary>
    public static string GeneratorTests { get; } = Path.Combine(Root, "tests", "GeneratorTests");

    private static string Above(string file)
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, file)))
        {
            directory = Path.GetDirectoryName(directory.TrimEnd(Path.DirectorySeparatorChar));
        }

        return directory ?? throw new InvalidOperationException($"{file} was not found above the test assembly's directory {AppContext.BaseDirectory}.");
    }
}
