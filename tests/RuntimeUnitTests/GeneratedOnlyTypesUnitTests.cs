using System.ComponentModel;
using System.Reflection;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The public types that exist for generated code are hidden from IntelliSense, and the types users write against are
/// not: a user browsing <c>Celeriac.</c> sees tasks, handles, options and results, not the dispatch table's plumbing.
/// </summary>
public sealed class GeneratedOnlyTypesUnitTests
{
    private static readonly Type[] GeneratedOnly =
        [typeof(TaskAssemblyAttribute), typeof(TaskInvoker), typeof(TaskRegistration), typeof(TaskNeeds), typeof(NothingFormatter)];

    [Fact]
    public void Types_for_generated_code_are_never_browsable()
    {
        foreach (Type type in GeneratedOnly)
        {
            Assert.True(
                type.GetCustomAttribute<EditorBrowsableAttribute>()?.State == EditorBrowsableState.Never,
                $"{type.Name} exists for generated code and must carry [EditorBrowsable(Never)]");
        }
    }

    [Fact]
    public void Every_other_public_type_of_the_abstractions_is_browsable()
    {
        Type[] hidden = [.. typeof(TaskAttribute).Assembly.GetExportedTypes()
            .Where(t => t.GetCustomAttribute<EditorBrowsableAttribute>()?.State == EditorBrowsableState.Never)];
        Assert.Equal(GeneratedOnly.OrderBy(t => t.Name), hidden.OrderBy(t => t.Name));
    }
}
