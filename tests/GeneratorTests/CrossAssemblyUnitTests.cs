using Celeriac.GeneratorTests.Infrastructure;
using Microsoft.CodeAnalysis;

namespace Celeriac.GeneratorTests;

/// <summary>Tasks declared in a referenced library are registered by the referencing application's module initializer.</summary>
public sealed class CrossAssemblyUnitTests
{
    private const string Library = """
        using Celeriac;
        namespace Lib.Tasks;
        public sealed record Job(string Id);
        public static partial class LibraryTasks
        {
            [Task] public static string Run(Job job) => job.Id;
        }
        """;

    [Fact]
    public void ApplicationRegistersReferencedTaskAssemblies()
    {
        GeneratorRun library = GeneratorHarness.Run(GeneratorHarness.CreateCompilation([Library], "Lib-Tasks"));
        library.AssertCompilesCleanly();
        MetadataReference reference = GeneratorHarness.ToReference(library.Output);

        const string app = """
            namespace Worker.App;
            public static class Program
            {
                public static string Name => Lib.Tasks.LibraryTasks.RunTask.Name;
            }
            """;
        GeneratorRun application = GeneratorHarness.Run(GeneratorHarness.CreateCompilation([app], "Worker.App", [reference]));
        application.AssertCompilesCleanly();

        string generated = Assert.Single(application.Sources).SourceText.ToString();
        Assert.Contains("global::Celeriac.TaskCatalog.Global.AddAssembly(\"Lib-Tasks\", global::Celeriac.Generated.Lib_Tasks.TaskRegistry.Register);", generated, StringComparison.Ordinal);
        Assert.DoesNotContain("TaskAssembly(", generated, StringComparison.Ordinal);
        Assert.DoesNotContain("GeneratedResolver", generated, StringComparison.Ordinal);
        Snapshot.Verify("CrossAssembly.Application", application.AllSources());
    }

    [Fact]
    public void ApplicationWithOwnTasksRegistersBoth()
    {
        MetadataReference reference = GeneratorHarness.ToReference(GeneratorHarness.Run(GeneratorHarness.CreateCompilation([Library], "Lib.Tasks")).Output);
        const string app = """
            using Celeriac;
            namespace Worker.App;
            public static partial class Local { [Task] public static void Ping() { } }
            """;
        GeneratorRun application = GeneratorHarness.Run(GeneratorHarness.CreateCompilation([app], "Worker.App", [reference]));
        application.AssertCompilesCleanly();

        string generated = application.Source("Celeriac_Generated");
        Assert.Contains("AddAssembly(\"Worker.App\", TaskRegistry.Register);", generated, StringComparison.Ordinal);
        Assert.Contains("AddAssembly(\"Lib.Tasks\", global::Celeriac.Generated.Lib_Tasks.TaskRegistry.Register);", generated, StringComparison.Ordinal);
    }
}
