using System.Text.RegularExpressions;

namespace Celeriac.GeneratorTests;

/// <summary>The README and the docs link only to files of the repository (a link outside it is broken for every reader).</summary>
public sealed partial class DocumentationUnitTests
{
    [Fact]
    public void Every_relative_link_of_the_README_and_the_docs_names_a_file_of_the_repository()
    {
        string root = RepositoryRoot();
        string[] pages = [Path.Combine(root, "README.md"), .. Directory.GetFiles(Path.Combine(root, "docs"), "*.md", SearchOption.AllDirectories)];
        var broken = new List<string>();
        foreach (string page in pages)
        {
            foreach (Match link in MarkdownLink().Matches(File.ReadAllText(page)))
            {
                string target = link.Groups[1].Value.Split('#')[0];
                if (target.Length == 0 || target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                {
                    continue;
                }

                string full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, target));
                bool inside = full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
                if (!inside || !(File.Exists(full) || Directory.Exists(full)))
                {
                    broken.Add($"{Path.GetRelativePath(root, page)}: ({link.Groups[1].Value}){(inside ? "" : " is outside the repository")}");
                }
            }
        }

        Assert.True(broken.Count == 0, "Broken links:\n" + string.Join("\n", broken));
    }

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    private static string RepositoryRoot() => Infrastructure.RepositoryPaths.Root;
}
