using System;
using System.Text;

namespace Celeriac.Generators.Helpers;

/// <summary>A StringBuilder with an indent level; lines end with '\n' whatever the host OS, so output is deterministic.</summary>
internal sealed class SourceWriter
{
    private const int IndentSize = 4;
    private readonly StringBuilder _builder = new();

    public int Indentation { get; set; }

    public SourceWriter WriteLine(string text)
    {
        if (text.Length == 0)
        {
            _builder.Append('\n');
            return this;
        }

        // Multi-line text (raw string literals) is indented line by line.
        foreach (string line in text.Replace("\r\n", "\n").Split('\n'))
        {
            if (line.Length > 0)
            {
                _builder.Append(' ', Indentation * IndentSize);
                _builder.Append(line);
            }

            _builder.Append('\n');
        }

        return this;
    }

    public SourceWriter WriteLine() => WriteLine(string.Empty);

    public SourceWriter OpenBlock(string header)
    {
        WriteLine(header);
        WriteLine("{");
        Indentation++;
        return this;
    }

    public SourceWriter OpenBlock()
    {
        WriteLine("{");
        Indentation++;
        return this;
    }

    public SourceWriter CloseBlock(string suffix = "")
    {
        Indentation--;
        WriteLine("}" + suffix);
        return this;
    }

    public string ToSourceText()
    {
        if (Indentation != 0)
        {
            throw new InvalidOperationException("Unbalanced blocks in generated source.");
        }

        return _builder.ToString();
    }
}
