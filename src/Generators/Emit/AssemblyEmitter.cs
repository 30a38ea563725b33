using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;

namespace Celeriac.Generators.Emit;

/// <summary>Emits the per-assembly file: the resolver with its formatters, the registry and the module initializer.</summary>
internal static class AssemblyEmitter
{
    public const string TaskNamesClass = "TaskNames";

    public static string HintName(AssemblyModel model)
        => NameHelper.SanitizeHintSegment(model.AssemblyName) + ".Celeriac_Generated." + NameHelper.ShortHash(model.ResolverNamespace) + ".g.cs";

    public static string Emit(AssemblyModel model)
    {
        bool hasTasks = !model.Registrations.IsEmpty;
        bool hasRegistry = hasTasks || !model.DeclaredQueues.IsEmpty;
        var w = new SourceWriter();
        w.WriteLine(KnownNames.FileHeader);
        w.WriteLine("#pragma warning disable CA2255 // ModuleInitializer in a library is the point: it registers the tasks.");
        w.WriteLine();
        if (hasRegistry)
        {
            w.WriteLine("[assembly: " + KnownNames.TaskAssemblyAttribute + "(typeof(global::" + model.ResolverNamespace + ".TaskRegistry))]");
            w.WriteLine();
        }

        w.OpenBlock("namespace " + model.ResolverNamespace);
        if (hasTasks)
        {
            EmitResolver(w, model);
            w.WriteLine();
        }

        if (hasRegistry)
        {
            EmitRegistry(w, model);
            w.WriteLine();
            EmitQueues(w, model);
        }

        if (model.SupportsModuleInitializer)
        {
            if (hasRegistry)
            {
                w.WriteLine();
            }

            EmitModuleInitializer(w, model, hasRegistry);
        }

        w.CloseBlock();
        return w.ToSourceText();
    }

    private static void EmitResolver(SourceWriter w, AssemblyModel model)
    {
        string resolver = "global::" + model.ResolverNamespace + ".GeneratedResolver";
        w.WriteLine("/// <summary>Formatters for every type reachable from the task signatures of this assembly; no dynamic resolver.</summary>");
        w.WriteLine(KnownNames.EditorBrowsableNever);
        w.WriteLine(KnownNames.GeneratedCode);
        w.WriteLine(KnownNames.ExcludeFromCodeCoverage);
        w.OpenBlock("public sealed class GeneratedResolver : " + KnownNames.IFormatterResolver);
        w.WriteLine("/// <summary>The resolver instance.</summary>");
        w.WriteLine("public static readonly GeneratedResolver Instance = new();");
        w.WriteLine();
        w.WriteLine("/// <summary>Options that resolve this assembly's generated formatters, then MessagePack's built-in ones.</summary>");
        w.WriteLine("public static readonly " + KnownNames.SerializerOptions + " Options =");
        w.WriteLine("    " + KnownNames.SerializerOptions + ".Standard.WithResolver(");
        w.WriteLine("        " + KnownNames.CompositeResolver + ".Create(Instance, " + KnownNames.BuiltinResolver + ".Instance));");
        w.WriteLine();
        w.WriteLine("private GeneratedResolver()");
        w.OpenBlock();
        w.CloseBlock();
        w.WriteLine();
        w.WriteLine("/// <summary>Returns the generated formatter of <typeparamref name=\"T\"/>, or null.</summary>");
        w.WriteLine("public " + KnownNames.IMessagePackFormatter + "<T>? GetFormatter<T>() => Cache<T>.Formatter;");
        w.WriteLine();
        w.OpenBlock("private static class Cache<T>");
        w.WriteLine("public static readonly " + KnownNames.IMessagePackFormatter + "<T>? Formatter = (" + KnownNames.IMessagePackFormatter + "<T>?)Lookup(typeof(T));");
        w.CloseBlock();
        w.WriteLine();
        w.OpenBlock("private static object? Lookup(" + KnownNames.Type + " type)");
        foreach (LookupEntryModel lookup in model.Lookups)
        {
            w.WriteLine("if (type == typeof(" + lookup.TypeFqn + ")) return " + lookup.FormatterExpression + ";");
        }

        w.WriteLine("return null;");
        w.CloseBlock();

        foreach (FormatterModel formatter in model.Formatters)
        {
            w.WriteLine();
            if (formatter.Kind == FormatterKind.Enum)
            {
                EmitEnumFormatter(w, formatter);
            }
            else
            {
                EmitObjectFormatter(w, formatter, resolver);
            }
        }

        w.CloseBlock();
    }

    private static void EmitEnumFormatter(SourceWriter w, FormatterModel f)
    {
        string t = f.TypeFqn;
        w.WriteLine("/// <summary>Writes <c>" + t.Replace("global::", string.Empty) + "</c> as its underlying integer.</summary>");
        w.OpenBlock((f.IsPublic ? "public" : "internal") + " sealed class " + f.FormatterName + " : " + KnownNames.IMessagePackFormatter + "<" + t + ">");
        w.WriteLine("/// <summary>The formatter instance.</summary>");
        w.WriteLine("public static readonly " + f.FormatterName + " Instance = new();");
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.WriteLine("public void Serialize(ref " + KnownNames.MessagePackWriter + " writer, " + t + " value, " + KnownNames.SerializerOptions + " options) => writer.Write((" + f.EnumUnderlyingType + ")value);");
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.OpenBlock("public " + t + " Deserialize(ref " + KnownNames.MessagePackReader + " reader, " + KnownNames.SerializerOptions + " options)");
        w.WriteLine("var value = reader." + f.EnumRead + "();");
        // A value the enum does not define is refused, as any other argument the task cannot have been written for.
        if (f.EnumIsFlags)
        {
            string mask = f.EnumValues.IsEmpty ? "0" : "(" + string.Join(" | ", f.EnumValues) + ")";
            w.WriteLine("if ((value | " + mask + ") == " + mask + ") return (" + t + ")value;");
        }
        else if (!f.EnumValues.IsEmpty)
        {
            w.WriteLine("switch (value) { case " + string.Join(": case ", f.EnumValues) + ": return (" + t + ")value; }");
        }

        w.WriteLine("throw new " + KnownNames.SerializationException + "(\"Value \" + value + \" is not defined by enum '" + Display(t) + "'.\");");
        w.CloseBlock();
        w.CloseBlock();
    }

    private static void EmitObjectFormatter(SourceWriter w, FormatterModel f, string resolver)
    {
        string t = f.FormattedType;
        string count = NameHelper.ToInvariant(f.Members.Length);
        w.WriteLine("/// <summary>Writes <c>" + f.TypeFqn.Replace("global::", string.Empty).Replace("<", "&lt;").Replace(">", "&gt;") + "</c> as an array of its members.</summary>");
        w.OpenBlock((f.IsPublic ? "public" : "internal") + " sealed class " + f.FormatterName + " : " + KnownNames.IMessagePackFormatter + "<" + t + ">");
        w.WriteLine("/// <summary>The formatter instance.</summary>");
        w.WriteLine("public static readonly " + f.FormatterName + " Instance = new();");
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.OpenBlock("public void Serialize(ref " + KnownNames.MessagePackWriter + " writer, " + t + " value, " + KnownNames.SerializerOptions + " options)");
        if (!f.IsValueType)
        {
            w.WriteLine("if (value is null) { writer.WriteNil(); return; }");
        }

        w.WriteLine("writer.WriteArrayHeader(" + count + ");");
        foreach (MemberModel m in f.Members)
        {
            w.WriteLine(CodecWriter.Write(m.Type, resolver, "value." + m.Name));
        }

        w.CloseBlock();
        w.WriteLine();
        w.WriteLine("/// <inheritdoc/>");
        w.OpenBlock("public " + t + " Deserialize(ref " + KnownNames.MessagePackReader + " reader, " + KnownNames.SerializerOptions + " options)");
        if (!f.IsValueType)
        {
            w.WriteLine("if (reader.TryReadNil()) return null;");
        }

        w.WriteLine("options.Security.DepthStep(ref reader);");
        w.OpenBlock("try");
        w.WriteLine("int count = reader.ReadArrayHeader();");
        string typeName = Display(f.TypeFqn);
        // A member the task's code may not see null: missing from the message is refused like nil is, naming the first
        // one missing (one comparison per decode).
        var required = new System.Collections.Generic.List<(int Index, string Name)>();
        int memberIndex = 0;
        foreach (MemberModel m in f.Members)
        {
            if (m.Type.IsNonNullableReference)
            {
                required.Add((memberIndex, RawName(m)));
            }

            memberIndex++;
        }

        if (required.Count > 0)
        {
            string name = NameHelper.ToLiteral(required[required.Count - 1].Name);
            for (int r = required.Count - 2; r >= 0; r--)
            {
                name = "count <= " + NameHelper.ToInvariant(required[r].Index) + " ? " + NameHelper.ToLiteral(required[r].Name) + " : " + name;
            }

            w.WriteLine("if (count <= " + NameHelper.ToInvariant(required[required.Count - 1].Index) + ") throw new " + KnownNames.SerializationException
                + "(\"Member '\" + (" + name + ") + \"' of '" + typeName + "' is missing (the message has \" + count + \" members).\");");
        }

        foreach (MemberModel m in f.Members)
        {
            w.WriteLine(m.Type.Fqn + " " + m.LocalName + " = default" + (m.Type.IsNonNullableReference ? "!" : string.Empty) + ";");
        }

        w.OpenBlock("for (int i = 0; i < count; i++)");
        w.OpenBlock("switch (i)");
        int index = 0;
        foreach (MemberModel m in f.Members)
        {
            string read = m.Type.IsNonNullableReference
                ? CodecWriter.Read(m.Type, resolver) + " ?? throw new " + KnownNames.SerializationException + "(\"Member '" + RawName(m) + "' of '" + typeName + "' is null but is not nullable.\")"
                : CodecWriter.ReadAsDeclared(m.Type, resolver);
            w.WriteLine("case " + NameHelper.ToInvariant(index++) + ": " + m.LocalName + " = " + read + "; break;");
        }

        w.WriteLine("default: reader.Skip(); break;");
        w.CloseBlock();
        w.CloseBlock();
        var arguments = new System.Collections.Generic.List<string>();
        foreach (string name in f.ConstructorMembers)
        {
            arguments.Add(LocalOf(f, name));
        }

        var initializers = new System.Collections.Generic.List<string>();
        foreach (MemberModel m in f.Members)
        {
            if (!m.InConstructor)
            {
                initializers.Add(m.Name + " = " + m.LocalName);
            }
        }

        string creation = "new " + f.TypeFqn + "(" + string.Join(", ", arguments) + ")"
            + (initializers.Count > 0 ? " { " + string.Join(", ", initializers) + " }" : string.Empty);
        w.WriteLine("return " + creation + ";");
        w.CloseBlock();
        w.OpenBlock("finally");
        w.WriteLine("reader.Depth--;");
        w.CloseBlock();
        w.CloseBlock();
        w.CloseBlock();
    }

    /// <summary>A type name for a message inside a C# string literal: no <c>global::</c>, escaped.</summary>
    private static string Display(string typeFqn) => NameHelper.ToLiteral(typeFqn.Replace("global::", string.Empty)).Trim('"');

    private static string RawName(MemberModel m) => m.Name.TrimStart('@');

    private static string LocalOf(FormatterModel f, string memberName)
    {
        foreach (MemberModel m in f.Members)
        {
            if (m.Name == memberName)
            {
                return m.LocalName;
            }
        }

        return "default!";
    }

    private static void EmitRegistry(SourceWriter w, AssemblyModel model)
    {
        w.WriteLine("/// <summary>The dispatch table of this assembly's tasks.</summary>");
        w.WriteLine(KnownNames.EditorBrowsableNever);
        w.WriteLine(KnownNames.GeneratedCode);
        w.WriteLine(KnownNames.ExcludeFromCodeCoverage);
        w.OpenBlock("public static class TaskRegistry");
        w.WriteLine("/// <summary>Adds every task of this assembly to <paramref name=\"catalog\"/>.</summary>");
        w.WriteLine("/// <param name=\"catalog\">The catalog to fill.</param>");
        w.OpenBlock("public static void Register(" + KnownNames.TaskCatalog + " catalog)");
        foreach (string queue in model.DeclaredQueues)
        {
            w.WriteLine("catalog.DeclareQueue(" + NameHelper.ToLiteral(queue) + ");");
        }

        foreach (string registration in model.Registrations)
        {
            w.WriteLine("catalog.Add(" + registration + ");");
        }

        foreach (string schedule in model.Schedules)
        {
            w.WriteLine("catalog.AddSchedule(" + schedule + ");");
        }

        w.CloseBlock();
        w.WriteLine();
        w.WriteLine("/// <summary>The wire names of this assembly's tasks, read from metadata by the generator of referencing assemblies (duplicate-name check).</summary>");
        w.OpenBlock("public static class " + TaskNamesClass);
        int index = 0;
        foreach (string name in model.TaskNames)
        {
            w.WriteLine("public const string T" + NameHelper.ToInvariant(index++) + " = " + NameHelper.ToLiteral(name) + ";");
        }

        w.CloseBlock();
        w.CloseBlock();
    }

    private static void EmitQueues(SourceWriter w, AssemblyModel model)
    {
        w.WriteLine("/// <summary>The queues declared by this assembly (<c>[assembly: TaskQueue(...)]</c>), for compiler-checked per-call overrides (<c>TaskOptions.QueueName</c>).</summary>");
        w.WriteLine(KnownNames.GeneratedCode);
        w.WriteLine(KnownNames.ExcludeFromCodeCoverage);
        w.OpenBlock("public static class Queues");
        w.WriteLine("/// <summary>The queue <c>default</c>, always declared.</summary>");
        w.WriteLine("public static readonly " + KnownNames.QueueName + " Default = new(\"default\");");
        var others = new System.Collections.Generic.List<string>();
        foreach (string queue in model.DeclaredQueues)
        {
            if (queue != "default")
            {
                others.Add(queue);
            }
        }

        foreach (System.Collections.Generic.KeyValuePair<string, string> pair in Parsing.Routing.ConstantNames(others))
        {
            w.WriteLine();
            w.WriteLine("/// <summary>The queue <c>" + pair.Key + "</c>.</summary>");
            w.WriteLine("public static readonly " + KnownNames.QueueName + " " + pair.Value + " = new(" + NameHelper.ToLiteral(pair.Key) + ");");
        }

        w.CloseBlock();
    }

    private static void EmitModuleInitializer(SourceWriter w, AssemblyModel model, bool hasRegistry)
    {
        w.WriteLine(KnownNames.GeneratedCode);
        w.WriteLine(KnownNames.ExcludeFromCodeCoverage);
        w.OpenBlock(model.SupportsFileLocalTypes ? "file static class ModuleInitializer" : "internal static class __CeleriacModuleInitializer");
        w.WriteLine("[global::System.Runtime.CompilerServices.ModuleInitializer]");
        w.OpenBlock("internal static void Initialize()");
        if (hasRegistry)
        {
            w.WriteLine(KnownNames.TaskCatalog + ".Global.AddAssembly(" + NameHelper.ToLiteral(model.AssemblyName) + ", TaskRegistry.Register);");
        }

        foreach (ReferencedTaskAssemblyModel reference in model.References)
        {
            w.WriteLine(KnownNames.TaskCatalog + ".Global.AddAssembly(" + NameHelper.ToLiteral(reference.AssemblyName) + ", " + reference.RegistryFqn + ".Register);");
        }

        w.CloseBlock();
        w.CloseBlock();
    }
}
