using System.Collections.Generic;
using System.Linq;
using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;

namespace Celeriac.Generators.Emit;

/// <summary>Emits one task's nested <c>{Method}Task</c> class into the user's partial containing type.</summary>
internal static class TaskEmitter
{
    public static string HintName(TaskModel task)
    {
        string fqn = task.ContainingTypeFqn + "." + task.ClassName;
        return NameHelper.SanitizeHintSegment(task.AssemblyName) + "." + NameHelper.SanitizeTypeName(fqn) + "." + NameHelper.ShortHash(fqn) + ".g.cs";
    }

    public static string Emit(TaskModel task)
    {
        var w = new SourceWriter();
        w.WriteLine(KnownNames.FileHeader);
        w.WriteLine();
        if (task.Namespace is not null)
        {
            w.OpenBlock("namespace " + task.Namespace);
        }

        foreach (ContainingTypeModel type in task.ContainingTypes)
        {
            w.OpenBlock("partial " + type.Keyword + " " + type.Name);
        }

        EmitTaskClass(w, task);

        foreach (ContainingTypeModel _ in task.ContainingTypes)
        {
            w.CloseBlock();
        }

        if (task.Namespace is not null)
        {
            w.CloseBlock();
        }

        return w.ToSourceText();
    }

    private static void EmitTaskClass(SourceWriter w, TaskModel task)
    {
        string resolver = task.ResolverFqn;
        string options = resolver + ".Options";
        string nameLiteral = NameHelper.ToLiteral(task.TaskName);
        List<ParameterModel> payload = task.Parameters.Where(p => p.Kind == ParameterKind.Payload).ToList();
        bool hasValue = task.Result is not null;
        string handleType = hasValue ? KnownNames.TaskHandle + "<" + task.Result!.Fqn + ">" : KnownNames.TaskHandle;
        string stubParameters = string.Concat(payload.Select(p => ", " + p.Type!.Fqn + " " + p.StubName));
        string newArgs = "new Args(" + string.Join(", ", payload.Select(p => p.StubName)) + ")";
        bool isAsync = task.ReturnKind is ReturnKind.Task or ReturnKind.TaskOfT or ReturnKind.ValueTask or ReturnKind.ValueTaskOfT;

        w.WriteLine("/// <summary>Typed entry points of the task <c>" + XmlEscape(task.TaskName) + "</c>.</summary>");
        w.WriteLine(KnownNames.GeneratedCode);
        w.OpenBlock((task.IsPublic ? "public" : "internal") + " static class " + task.ClassName);

        w.WriteLine("/// <summary>The task's wire name.</summary>");
        w.WriteLine("public const string Name = " + nameLiteral + ";");
        w.WriteLine();
        w.WriteLine("/// <summary>The queue the task is routed to.</summary>");
        w.WriteLine("public const string Queue = " + NameHelper.ToLiteral(task.Queue) + ";");
        w.WriteLine();
        w.WriteLine("/// <summary>The task's definition: name, queue, defaults and argument formatter.</summary>");
        w.WriteLine("internal static readonly " + KnownNames.TaskDefinition + "<Args> Definition = new(Name, Queue, "
            + NameHelper.ToInvariant(task.Priority) + ", ArgsFormatter.Instance, " + options + ");");
        w.WriteLine();

        // A null for a non-nullable reference parameter is refused at send: sent, it would only be dead-lettered by the
        // worker as undecodable arguments. Oblivious (nullable-disabled) parameters are not checked.
        List<ParameterModel> nonNullable = payload.Where(p => p.Type!.IsNonNullableReference).ToList();
        w.WriteLine("/// <summary>Sends the task with its default options.</summary>");
        w.WriteLine("public static async " + KnownNames.ValueTask + "<" + handleType + "> DelayAsync(" + KnownNames.ITaskClient + " client" + stubParameters
            + ", " + KnownNames.CancellationToken + " cancellationToken = default)");
        EmitSendBody(w, nonNullable, "Handle(client, await client.SendAsync(Definition, " + newArgs + ", null, cancellationToken).ConfigureAwait(false), Queue)");
        w.WriteLine();
        w.WriteLine("/// <summary>Sends the task with per-call options.</summary>");
        w.WriteLine("public static async " + KnownNames.ValueTask + "<" + handleType + "> ApplyAsync(" + KnownNames.ITaskClient + " client" + stubParameters
            + ", " + KnownNames.TaskOptions + " options, " + KnownNames.CancellationToken + " cancellationToken = default)");
        EmitSendBody(w, nonNullable, "Handle(client, await client.SendAsync(Definition, " + newArgs + ", options, cancellationToken).ConfigureAwait(false), options?.Queue ?? Queue)");
        w.WriteLine();
        EmitDelayMany(w, payload, handleType);
        w.WriteLine("/// <summary>Re-creates a handle on a task of this kind from its id (its result is looked up in every queue in use).</summary>");
        w.WriteLine("public static " + handleType + " Handle(" + KnownNames.ITaskClient + " client, string taskId)");
        w.WriteLine("    => Handle(client, taskId, null);");
        w.WriteLine();
        w.WriteLine("/// <summary>Re-creates a handle on a task of this kind from its id and the queue it was sent to (its result is read there).</summary>");
        w.WriteLine("public static " + handleType + " Handle(" + KnownNames.ITaskClient + " client, string taskId, string? queue)");
        w.WriteLine(hasValue
            ? "    => new(client, taskId, queue, " + KnownNames.GetFormatterWithVerify + "<" + task.Result!.Fqn + ">(" + options + ".Resolver), " + options + ");"
            : "    => new(client, taskId, queue);");
        w.WriteLine();

        EmitSignatures(w, task, payload, options, nonNullable);

        string configureServices = task.IsStatic
            ? "null"
            : "static services => " + KnownNames.TryAddScoped + "<" + task.ContainingTypeFqn + ">(services)";
        w.WriteLine("/// <summary>The task's entry in the worker's dispatch table.</summary>");
        w.WriteLine("internal static " + KnownNames.TaskRegistration + " Registration => new(Name, Queue, InvokeAsync, " + configureServices + ", "
            + NameHelper.ToInvariant(task.Policy.MaxRetries) + ", policy: " + PolicyExpression(task.Policy) + ", needs: " + NeedsExpression(task) + ");");
        w.WriteLine();

        if (task.Periodic is { } periodic)
        {
            EmitSchedule(w, periodic);
        }

        EmitInvoker(w, task, isAsync, hasValue);
        w.WriteLine();
        EmitDecode(w, options);
        w.WriteLine();
        EmitWriteResult(w, task, resolver, options);
        w.WriteLine();
        EmitArgs(w, payload);
        w.WriteLine();
        EmitArgsFormatter(w, task, payload, resolver);
        w.CloseBlock();
    }

    /// <summary>
    /// <c>Sig(args…)</c> for every task, and <c>Then(rest…)</c> for a task with a serialized parameter: the first
    /// parameter is the previous step's result, so it is the step's input type and a mismatch does not compile.
    /// </summary>
    private static void EmitSignatures(SourceWriter w, TaskModel task, List<ParameterModel> payload, string options, List<ParameterModel> nonNullable)
    {
        string result = task.Result?.Fqn ?? KnownNames.Nothing;
        string formatter = task.Result is null ? KnownNames.NothingFormatter : KnownNames.GetFormatterWithVerify + "<" + task.Result.Fqn + ">(" + options + ".Resolver)";
        string allParameters = string.Join(", ", payload.Select(p => p.Type!.Fqn + " " + p.StubName));
        w.WriteLine("/// <summary>The task with these arguments, not yet sent: a chain's first step, a group's or a chord's member.</summary>");
        w.WriteLine("public static " + KnownNames.TaskSignature + "<" + result + "> Sig(" + allParameters + ")");
        EmitSendBody(w, nonNullable, KnownNames.TaskSignature + "<" + result + ">.Create(Definition, new Args(" + string.Join(", ", payload.Select(p => p.StubName)) + "), " + formatter + ", " + options + ")");
        w.WriteLine();
        if (payload.Count == 0)
        {
            // There is no first argument for a previous step's result to fill. A Then that does not compile (with the
            // diagnostic's id and page) tells the user why, where a missing member would only say it is missing.
            w.WriteLine("/// <summary>Not available: the task takes no serialized argument, so no previous step's result can be passed to it (CEL0401).</summary>");
            w.WriteLine("[global::System.Obsolete(" + NameHelper.ToLiteral(NotAChainStepMessage(task)) + ", true, DiagnosticId = \"CEL0401\", UrlFormat = "
                + NameHelper.ToLiteral(Diagnostics.DiagnosticDescriptors.HelpLink("{0}")) + ")]");
            w.WriteLine("public static " + KnownNames.TaskStep + "<" + KnownNames.Nothing + ", " + result + "> Then() => throw new " + KnownNames.InvalidOperationException + "();");
            w.WriteLine();
            return;
        }

        ParameterModel first = payload[0];
        List<ParameterModel> rest = payload.Skip(1).ToList();
        string restParameters = string.Join(", ", rest.Select(p => p.Type!.Fqn + " " + p.StubName));
        string placeholder = first.Type!.IsNonNullableReference ? "default!" : "default";
        string newArgs = "new Args(" + string.Join(", ", new[] { placeholder }.Concat(rest.Select(p => p.StubName))) + ")";
        w.WriteLine("/// <summary>The task with every argument but <c>" + XmlEscape(first.RawName) + "</c>, which the previous step's result (or a chord's results) fills: a later step of a chain or a chord's callback.</summary>");
        w.WriteLine("public static " + KnownNames.TaskStep + "<" + first.Type.Fqn + ", " + result + "> Then(" + restParameters + ")");
        EmitSendBody(w, nonNullable.Where(p => p != first).ToList(), KnownNames.TaskStep + "<" + first.Type.Fqn + ", " + result + ">.Create(Definition, " + newArgs + ", " + formatter + ", " + options + ")");
        w.WriteLine();
    }

    private static string NotAChainStepMessage(TaskModel task)
        => "Task '" + task.TaskName + "' takes no serialized argument, so it cannot follow another step of a chain or be a chord's callback: give it a first parameter of the previous step's result type, or start the chain with it (Sig)";

    private static void EmitSchedule(SourceWriter w, PeriodicModel periodic)
    {
        string missed = periodic.MissedTicks switch
        {
            1 => "Skip",
            2 => "RunEach",
            _ => "RunOnce",
        };
        string cron = periodic.Cron is null ? "null" : NameHelper.ToLiteral(periodic.Cron);
        string every = periodic.EveryMs == 0 ? "global::System.TimeSpan.Zero" : KnownNames.TimeSpanFromMilliseconds + "(" + NameHelper.ToInvariant(periodic.EveryMs) + ")";
        string zone = periodic.TimeZone is null ? "null" : NameHelper.ToLiteral(periodic.TimeZone);
        w.WriteLine("/// <summary>The task's periodic schedule (from <c>[Periodic]</c>), checked at compile time; a worker's scheduler sends the task at each tick.</summary>");
        w.WriteLine("internal static " + KnownNames.PeriodicSchedule + " Schedule => new(Name, Name, Queue, " + cron + ", " + every + ", " + zone + ", "
            + KnownNames.MissedTicks + "." + missed + ", " + NameHelper.ToInvariant(periodic.MaxMissedRuns) + ", Definition.Priority);");
        w.WriteLine();
    }

    private static void EmitSendBody(SourceWriter w, List<ParameterModel> nonNullable, string send)
    {
        if (nonNullable.Count == 0)
        {
            w.WriteLine("    => " + send + ";");
            return;
        }

        w.OpenBlock();
        foreach (ParameterModel p in nonNullable)
        {
            w.WriteLine(KnownNames.ArgumentNullException + ".ThrowIfNull(" + p.StubName + ", nameof(" + p.StubName + "));");
        }

        w.WriteLine("return " + send + ";");
        w.CloseBlock();
    }

    private static void EmitDelayMany(SourceWriter w, List<ParameterModel> payload, string handleType)
    {
        string input;
        string makeArgs;
        string count;
        if (payload.Count == 0)
        {
            input = "int count";
            makeArgs = "new Args()";
            count = "count";
            w.WriteLine("/// <summary>Sends <paramref name=\"count\"/> runs of the task with its default options, in as few broker round trips as possible.</summary>");
        }
        else if (payload.Count == 1)
        {
            input = KnownNames.IReadOnlyList + "<" + payload[0].Type!.Fqn + "> calls";
            makeArgs = "new Args(calls[__celeriac_i])";
            count = "calls.Count";
            w.WriteLine("/// <summary>Sends one run of the task per element of <paramref name=\"calls\"/> with its default options, in as few broker round trips as possible.</summary>");
        }
        else
        {
            input = KnownNames.IReadOnlyList + "<(" + string.Join(", ", payload.Select(p => p.Type!.Fqn + TupleElementName(p))) + ")> calls";
            makeArgs = "new Args(" + string.Join(", ", payload.Select((p, i) => "__celeriac_call.Item" + NameHelper.ToInvariant(i + 1))) + ")";
            count = "calls.Count";
            w.WriteLine("/// <summary>Sends one run of the task per element of <paramref name=\"calls\"/> with its default options, in as few broker round trips as possible.</summary>");
        }

        w.OpenBlock("public static async " + KnownNames.ValueTask + "<" + handleType + "[]> DelayManyAsync(" + KnownNames.ITaskClient + " client, " + input
            + ", " + KnownNames.CancellationToken + " cancellationToken = default)");
        if (payload.Count == 0)
        {
            w.WriteLine("if (count < 0) throw new " + KnownNames.ArgumentOutOfRangeException + "(nameof(count), count, \"The count cannot be negative.\");");
        }
        else
        {
            w.WriteLine("if (calls is null) throw new " + KnownNames.ArgumentNullException + "(nameof(calls));");
        }

        w.WriteLine("var __celeriac_args = new Args[" + count + "];");
        w.OpenBlock("for (int __celeriac_i = 0; __celeriac_i < __celeriac_args.Length; __celeriac_i++)");
        if (payload.Count > 1)
        {
            w.WriteLine("var __celeriac_call = calls[__celeriac_i];");
        }

        for (int i = 0; i < payload.Count; i++)
        {
            if (payload[i].Type!.IsNonNullableReference)
            {
                string element = payload.Count == 1 ? "calls[__celeriac_i]" : "__celeriac_call.Item" + NameHelper.ToInvariant(i + 1);
                w.WriteLine("if (" + element + " is null) throw new " + KnownNames.ArgumentNullException + "(nameof(calls), \"calls[\" + __celeriac_i.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \"]: "
                    + payload[i].RawName + " is null, and the task does not accept null there.\");");
            }
        }

        w.WriteLine("__celeriac_args[__celeriac_i] = " + makeArgs + ";");
        w.CloseBlock();
        w.WriteLine("string[] __celeriac_ids = await client.SendManyAsync(Definition, __celeriac_args, null, cancellationToken).ConfigureAwait(false);");
        w.WriteLine("var __celeriac_handles = new " + ArrayOf(handleType, "__celeriac_ids.Length") + ";");
        w.OpenBlock("for (int __celeriac_i = 0; __celeriac_i < __celeriac_ids.Length; __celeriac_i++)");
        w.WriteLine("__celeriac_handles[__celeriac_i] = Handle(client, __celeriac_ids[__celeriac_i], Queue);");
        w.CloseBlock();
        w.WriteLine("return __celeriac_handles;");
        w.CloseBlock();
        w.WriteLine();
    }

    private static string ArrayOf(string elementType, string length) => elementType + "[" + length + "]";

    // Tuple element names the compiler reserves (CS8125/CS8126) stay unnamed; elements are read positionally anyway.
    private static string TupleElementName(ParameterModel p)
    {
        string raw = p.RawName;
        bool reserved = raw is "CompareTo" or "Deconstruct" or "Equals" or "GetHashCode" or "Rest" or "ToString"
            || (raw.StartsWith("Item", System.StringComparison.Ordinal) && raw.Length > 4 && raw.Substring(4).All(char.IsDigit));
        return reserved ? string.Empty : " " + p.Name;
    }

    private static string PolicyExpression(TaskPolicyModel policy)
    {
        if (policy.IsDefault)
        {
            return KnownNames.TaskPolicy + ".Default";
        }

        var members = new List<string>();
        if (policy.MaxRetries != 0)
        {
            members.Add("MaxRetries = " + NameHelper.ToInvariant(policy.MaxRetries));
        }

        if (policy.RetryBackoffMs is not null)
        {
            members.Add("RetryBackoff = " + KnownNames.TimeSpanFromMilliseconds + "(" + policy.RetryBackoffMs + ")");
        }

        if (policy.RetryBackoffMaxMs is not null)
        {
            members.Add("RetryBackoffMax = " + KnownNames.TimeSpanFromMilliseconds + "(" + policy.RetryBackoffMaxMs + ")");
        }

        if (!policy.RetryJitter)
        {
            members.Add("RetryJitter = false");
        }

        if (!policy.RetryOn.IsEmpty || !policy.DontRetryOn.IsEmpty)
        {
            var tests = new List<string>();
            if (!policy.DontRetryOn.IsEmpty)
            {
                tests.Add("!(ex is " + string.Join(" or ", policy.DontRetryOn) + ")");
            }

            if (!policy.RetryOn.IsEmpty)
            {
                tests.Add("(ex is " + string.Join(" or ", policy.RetryOn) + ")");
            }

            members.Add("ShouldRetry = static ex => " + string.Join(" && ", tests));
        }

        if (policy.RateLimitIntervalMs is not null)
        {
            members.Add("RateLimitInterval = " + KnownNames.TimeSpanFromMilliseconds + "(" + policy.RateLimitIntervalMs + ")");
        }

        if (policy.Execution == 1)
        {
            members.Add("Execution = global::Celeriac.TaskExecution.Cpu");
        }

        if (policy.DeadLetterOnFailure)
        {
            members.Add("DeadLetterOnFailure = true");
        }

        if (policy.TimeLimitMs is not null)
        {
            members.Add("TimeLimit = " + KnownNames.TimeSpanFromMilliseconds + "(" + policy.TimeLimitMs + ")");
        }

        if (policy.SoftTimeLimitMs is not null)
        {
            members.Add("SoftTimeLimit = " + KnownNames.TimeSpanFromMilliseconds + "(" + policy.SoftTimeLimitMs + ")");
        }

        return "new " + KnownNames.TaskPolicy + " { " + string.Join(", ", members) + " }";
    }

    /// <summary>What the invoker reads from its context beyond the cancellation token (<c>Celeriac.TaskNeeds</c>).</summary>
    private static string NeedsExpression(TaskModel task)
    {
        bool context = false;
        foreach (ParameterModel parameter in task.Parameters)
        {
            context |= parameter.Kind == ParameterKind.Context;
        }

        if (context)
        {
            return KnownNames.TaskNeeds + ".Context | " + KnownNames.TaskNeeds + ".Services";
        }

        return task.IsStatic ? KnownNames.TaskNeeds + ".None" : KnownNames.TaskNeeds + ".Services";
    }

    private static void EmitInvoker(SourceWriter w, TaskModel task, bool isAsync, bool hasValue)
    {
        w.WriteLine("/// <summary>Decodes the arguments, runs the task method and encodes its result.</summary>");
        w.OpenBlock("internal static " + (isAsync ? "async " : string.Empty) + KnownNames.ValueTask + " InvokeAsync("
            + KnownNames.ReadOnlyMemoryOfByte + " __celeriac_payload, " + KnownNames.TaskContext + " __celeriac_context, "
            + KnownNames.BufferWriterOfByte + " __celeriac_result)");
        w.WriteLine("Args __celeriac_args = Decode(__celeriac_payload);");
        string target;
        if (task.IsStatic)
        {
            target = task.ContainingTypeFqn;
        }
        else
        {
            w.WriteLine("var __celeriac_target = " + KnownNames.GetRequiredService + "<" + task.ContainingTypeFqn + ">(__celeriac_context.Services ?? throw new "
                + KnownNames.InvalidOperationException + "(\"Task '\" + Name + \"' is an instance method and needs TaskContext.Services.\"));");
            target = "__celeriac_target";
        }

        string arguments = string.Join(", ", task.Parameters.Select(p => p.Kind switch
        {
            ParameterKind.Context => "__celeriac_context",
            ParameterKind.CancellationToken => "__celeriac_context.CancellationToken",
            _ => "__celeriac_args." + p.FieldName,
        }));
        string call = target + "." + task.MethodName + "(" + arguments + ")";
        if (isAsync)
        {
            call = "await " + call + ".ConfigureAwait(false)";
        }

        if (hasValue)
        {
            w.WriteLine("var __celeriac_value = " + call + ";");
            w.WriteLine("WriteResult(__celeriac_result, __celeriac_value);");
        }
        else
        {
            w.WriteLine(call + ";");
            w.WriteLine("WriteResult(__celeriac_result);");
        }

        if (!isAsync)
        {
            w.WriteLine("return default;");
        }

        w.CloseBlock();
    }

    private static void EmitDecode(SourceWriter w, string options)
    {
        w.OpenBlock("private static Args Decode(" + KnownNames.ReadOnlyMemoryOfByte + " payload)");
        w.OpenBlock("try");
        w.WriteLine("var reader = new " + KnownNames.MessagePackReader + "(payload);");
        w.WriteLine("return ArgsFormatter.Instance.Deserialize(ref reader, " + options + ");");
        w.CloseBlock();
        w.OpenBlock("catch (" + KnownNames.Exception + " ex)");
        w.WriteLine("throw new " + KnownNames.TaskPayloadException + "(Name, ex);");
        w.CloseBlock();
        w.CloseBlock();
    }

    private static void EmitWriteResult(SourceWriter w, TaskModel task, string resolver, string options)
    {
        if (task.Result is null)
        {
            w.OpenBlock("private static void WriteResult(" + KnownNames.BufferWriterOfByte + " output)");
            w.WriteLine("var writer = new " + KnownNames.MessagePackWriter + "(output);");
            w.WriteLine("writer.WriteNil();");
        }
        else
        {
            w.OpenBlock("private static void WriteResult(" + KnownNames.BufferWriterOfByte + " output, " + task.Result.Fqn + " value)");
            w.WriteLine("var writer = new " + KnownNames.MessagePackWriter + "(output);");
            w.WriteLine(CodecWriter.Write(task.Result, resolver, "value", options: options));
        }

        w.WriteLine("writer.Flush();");
        w.CloseBlock();
    }

    private static void EmitArgs(SourceWriter w, List<ParameterModel> payload)
    {
        w.WriteLine("/// <summary>The task's argument list, as sent on the wire.</summary>");
        w.WriteLine(KnownNames.EditorBrowsableNever);
        w.OpenBlock("internal readonly struct Args");
        foreach (ParameterModel p in payload)
        {
            w.WriteLine("public readonly " + p.Type!.Fqn + " " + p.FieldName + ";");
        }

        if (payload.Count > 0)
        {
            w.WriteLine();
            w.WriteLine("public Args(" + string.Join(", ", payload.Select(p => p.Type!.Fqn + " " + p.FieldName)) + ")");
            w.OpenBlock();
            foreach (ParameterModel p in payload)
            {
                w.WriteLine("this." + p.FieldName + " = " + p.FieldName + ";");
            }

            w.CloseBlock();
        }

        w.CloseBlock();
    }

    private static void EmitArgsFormatter(SourceWriter w, TaskModel task, List<ParameterModel> payload, string resolver)
    {
        string count = NameHelper.ToInvariant(payload.Count);
        string taskNameInMessage = NameHelper.ToLiteral(task.TaskName).Trim('"');
        w.WriteLine("/// <summary>Writes the argument list as a fixed-length MessagePack array.</summary>");
        w.WriteLine(KnownNames.EditorBrowsableNever);
        w.OpenBlock("internal sealed class ArgsFormatter : " + KnownNames.IMessagePackFormatter + "<Args>");
        w.WriteLine("public static readonly ArgsFormatter Instance = new();");
        w.WriteLine();
        w.OpenBlock("public void Serialize(ref " + KnownNames.MessagePackWriter + " writer, Args value, " + KnownNames.SerializerOptions + " options)");
        w.WriteLine("writer.WriteArrayHeader(" + count + ");");
        foreach (ParameterModel p in payload)
        {
            w.WriteLine(CodecWriter.Write(p.Type!, resolver, "value." + p.FieldName));
        }

        w.CloseBlock();
        w.WriteLine();
        w.OpenBlock("public Args Deserialize(ref " + KnownNames.MessagePackReader + " reader, " + KnownNames.SerializerOptions + " options)");
        w.WriteLine("int count = reader.ReadArrayHeader();");
        w.WriteLine("if (count != " + count + ") throw new " + KnownNames.SerializationException + "(\"Task '" + taskNameInMessage + "' takes " + count
            + (payload.Count == 1 ? " argument" : " arguments") + ", the message has \" + count + \".\");");
        foreach (ParameterModel p in payload)
        {
            TypeRefModel type = p.Type!;
            string local = "__celeriac_" + p.RawName;
            if (type.IsNonNullableReference)
            {
                w.WriteLine(type.Fqn + " " + local + " = " + CodecWriter.Read(type, resolver));
                w.WriteLine("    ?? throw new " + KnownNames.SerializationException + "(\"Argument '" + p.RawName + "' of task '" + taskNameInMessage + "' is null but is not nullable.\");");
            }
            else
            {
                w.WriteLine(type.Fqn + " " + local + " = " + CodecWriter.Read(type, resolver) + ";");
            }
        }

        w.WriteLine("return new Args(" + string.Join(", ", payload.Select(p => "__celeriac_" + p.RawName)) + ");");
        w.CloseBlock();
        w.CloseBlock();
    }

    private static string XmlEscape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
