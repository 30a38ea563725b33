using Celeriac.GeneratorTests.Infrastructure;
using Microsoft.CodeAnalysis;

namespace Celeriac.GeneratorTests;

/// <summary>The emitted <c>Sig</c>/<c>Then</c> of every task: their shapes, the types that make a wrong chain fail to compile, and CEL0401.</summary>
public sealed class WorkflowSignatureUnitTests
{
    private const string Source = """
        using Celeriac;
        namespace Samples.Flow;

        public static partial class Images
        {
            [Task] public static byte[] Resize(string url, int width) => [];
            [Task] public static byte[] Watermark(byte[] image, string logo) => image;
            [Task(Queue = "default", Priority = 4)] public static async Task<string?> Upload(byte[] image, string bucket, CancellationToken ct) { await Task.Yield(); return bucket; }
            [Task] public static long Sum(int[] values, TaskContext context) => System.Linq.Enumerable.Sum(values);
            [Task] public static int Seed() => 1;
            [Task] public static void Notify(string message) { }
        }
        """;

    [Fact]
    public void SignaturesSnapshot()
    {
        GeneratorRun run = GeneratorHarness.Run(Source);
        run.AssertCompilesCleanly();
        Snapshot.Verify("Workflows", run.AllSources());
    }

    [Fact]
    public void SigTakesEveryArgumentAndThenEveryArgumentButTheFirst()
    {
        string stub = GeneratorHarness.Run(Source).Source("Images_UploadTask");
        Assert.Contains("public static global::Celeriac.TaskSignature<string?> Sig(byte[] image, string bucket)", stub, StringComparison.Ordinal);
        Assert.Contains("public static global::Celeriac.TaskStep<byte[], string?> Then(string bucket)", stub, StringComparison.Ordinal);

        // Injected parameters (TaskContext, CancellationToken) are not arguments; a void task's result is Nothing.
        string sum = GeneratorHarness.Run(Source).Source("Images_SumTask");
        Assert.Contains("public static global::Celeriac.TaskStep<int[], long> Then()", sum, StringComparison.Ordinal);
        string notify = GeneratorHarness.Run(Source).Source("Images_NotifyTask");
        Assert.Contains("public static global::Celeriac.TaskSignature<global::Celeriac.Nothing> Sig(string message)", notify, StringComparison.Ordinal);
        Assert.Contains("public static global::Celeriac.TaskStep<string, global::Celeriac.Nothing> Then()", notify, StringComparison.Ordinal);
    }

    [Fact]
    public void StepsThatFitCompile()
    {
        const string user = """
            using Celeriac;
            namespace Samples.Flow;

            public static class Use
            {
                public static void Fits<T, U>(TaskSignature<T> first, TaskStep<T, U> next) { }

                public static void Build()
                {
                    Fits(Images.ResizeTask.Sig("https://example.com/a.png", 800), Images.WatermarkTask.Then("logo"));
                    Fits(Images.ResizeTask.Sig("u", 1).WithQueue("default").WithPriority(9).WithCountdown(TimeSpan.FromSeconds(1)).WithExpiresIn(TimeSpan.FromMinutes(1)), Images.UploadTask.Then("bucket"));
                    TaskStep<string, Nothing> onError = Images.NotifyTask.Then();
                }
            }
            """;
        GeneratorHarness.Run(Source, user).AssertCompilesCleanly();
    }

    [Fact]
    public void AStepThatDoesNotFitTheResultBeforeItDoesNotCompile()
    {
        const string user = """
            using Celeriac;
            namespace Samples.Flow;

            public static class Use
            {
                public static void Fits<T, U>(TaskSignature<T> first, TaskStep<T, U> next) { }

                // Upload returns string?, Watermark's first parameter is byte[].
                public static void Build() => Fits(Images.UploadTask.Sig([], "b"), Images.WatermarkTask.Then("logo"));
            }
            """;
        GeneratorRun run = GeneratorHarness.Run(Source, user);
        Assert.Empty(run.GeneratorDiagnostics);
        Diagnostic error = Assert.Single(run.CompilationProblems());
        Assert.Equal("CS0411", error.Id); // the type arguments cannot be inferred: no T fits both
    }

    [Fact]
    public void ThenOfATaskWithoutArgumentsIsCEL0401()
    {
        const string user = """
            using Celeriac;
            namespace Samples.Flow;

            public static class Use
            {
                public static object Build() => Images.SeedTask.Then();
            }
            """;
        GeneratorRun run = GeneratorHarness.Run(Source, user);
        Assert.Empty(run.GeneratorDiagnostics);
        Diagnostic error = Assert.Single(run.CompilationProblems());
        Assert.Equal("CEL0401", error.Id);
        Assert.Equal("public static object Build() => Images.SeedTask.Then();", LineOf(error)); // at the call, in the user's file
        Assert.Equal(DiagnosticSeverity.Error, error.Severity);
        Assert.Contains("Samples.Flow.Images.Seed", error.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.EndsWith("docs/diagnostics/CEL0401.md", error.Descriptor.HelpLinkUri, StringComparison.Ordinal);
    }

    [Fact]
    public void ATaskWithoutArgumentsStillStartsAChain()
    {
        const string user = """
            using Celeriac;
            namespace Samples.Flow;

            public static class Use
            {
                public static TaskSignature<int> Build() => Images.SeedTask.Sig();
            }
            """;
        GeneratorHarness.Run(Source, user).AssertCompilesCleanly();
    }

    private static string LineOf(Diagnostic diagnostic)
        => diagnostic.Location.SourceTree!.GetText().Lines[diagnostic.Location.GetLineSpan().StartLinePosition.Line].ToString().Trim();
}
