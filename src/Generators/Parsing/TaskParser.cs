using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Celeriac.Generators.Diagnostics;
using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Celeriac.Generators.Parsing;

/// <summary>Turns one <c>[Task]</c> method symbol into a location-free model plus the diagnostics that stop it.</summary>
internal static class TaskParser
{
    public const int MaxTaskNameLength = 200;

    // Members of the generated {Method}Task class, and the stub's own parameters: a task parameter with one of these
    // names is renamed in the stub signatures so it cannot shadow them.
    private static readonly HashSet<string> ReservedStubNames = new(StringComparer.Ordinal)
    {
        "client", "options", "cancellationToken", "taskId", "Name", "Queue", "Definition", "DelayAsync", "ApplyAsync",
        "Handle", "Registration", "Schedule", "InvokeAsync", "Decode", "WriteResult", "Args", "ArgsFormatter", "DelayManyAsync", "Sig", "Then",
    };

    public static TaskParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not IMethodSymbol method || context.TargetNode is not MethodDeclarationSyntax syntax)
        {
            return TaskParseResult.Empty;
        }

        var known = new KnownTypeSymbols(context.SemanticModel.Compilation);
        if (!known.HasCeleriac)
        {
            return TaskParseResult.Empty;
        }

        cancellationToken.ThrowIfCancellationRequested();
        var diagnostics = new List<DiagnosticInfo>();
        Location methodLocation = syntax.Identifier.GetLocation();
        INamedTypeSymbol containingType = method.ContainingType;
        string methodDisplay = containingType.Name + "." + method.Name;

        TaskAttributeValues options = TaskAttributeParser.Parse(context.Attributes[0], methodDisplay, methodLocation, known, diagnostics, cancellationToken);
        string? explicitName = options.Name;

        var containingTypes = new List<INamedTypeSymbol>();
        for (INamedTypeSymbol? current = containingType; current is not null; current = current.ContainingType)
        {
            containingTypes.Insert(0, current);
        }

        string? ns = containingType.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        string canonicalName = (ns is null ? string.Empty : ns + ".") + string.Join(".", containingTypes.Select(t => t.Name)) + "." + method.Name;
        string taskName = explicitName ?? canonicalName;
        string className = method.Name + "Task";

        // CEL0009
        string? nameError = ValidateTaskName(taskName);
        if (nameError is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidTaskName, methodLocation, taskName, methodDisplay, nameError));
        }

        // CEL0207
        if (options.Queue is not null && Routing.ValidateQueueName(options.Queue) is { } queueError)
        {
            diagnostics.Add(new DiagnosticInfo(
                DiagnosticDescriptors.InvalidQueueName, options.QueueLocation ?? LocationInfo.From(methodLocation),
                new[] { "Task '" + taskName + "'", options.Queue, queueError }.ToEquatableArray()));
        }

        // CEL0001, CEL0008
        foreach (INamedTypeSymbol type in containingTypes)
        {
            if (!IsPartial(type, cancellationToken))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ContainingTypeNotPartial, methodLocation, type.ToDisplayString(), method.Name));
            }

            if (type.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.InaccessibleContainingType, methodLocation, type.ToDisplayString(), method.Name,
                    SyntaxFacts.GetText(type.DeclaredAccessibility)));
            }
        }

        // CEL0002
        if (method.IsGenericMethod || containingTypes.Any(t => t.IsGenericType))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GenericTask, methodLocation, methodDisplay));
        }

        // CEL0006
        string? collision = FindCollision(method, containingType, className, known);
        if (collision is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GeneratedNameCollision, methodLocation, className, containingType.ToDisplayString(), method.Name, collision));
        }

        string resolverFqn = "global::Celeriac.Generated." + NameHelper.SanitizeAssemblyName(context.SemanticModel.Compilation.AssemblyName ?? string.Empty) + ".GeneratedResolver";
        var walker = new PayloadTypeWalker(context.SemanticModel.Compilation, resolverFqn);

        // Parameters: CEL0003, CEL0007, CEL0101
        var parameters = new List<ParameterModel>();
        int contextCount = 0;
        int tokenCount = 0;
        var usedStubNames = new HashSet<string>(method.Parameters.Select(p => p.Name), StringComparer.Ordinal);
        foreach (IParameterSymbol parameter in method.Parameters)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Location? parameterLocation = parameter.Locations.FirstOrDefault() ?? methodLocation;
            string escaped = NameHelper.EscapeIdentifier(parameter.Name);
            string? kindError = parameter switch
            {
                { RefKind: RefKind.Ref } => "ref parameters are not supported",
                { RefKind: RefKind.Out } => "out parameters are not supported",
                { RefKind: RefKind.In or RefKind.RefReadOnlyParameter } => "in and ref readonly parameters are not supported",
                { IsParams: true } => "params parameters are not supported",
                { Type: IPointerTypeSymbol or IFunctionPointerTypeSymbol } => "pointer parameters are not supported",
                { Type.IsRefLikeType: true } => "ref struct parameters cannot be stored",
                _ => null,
            };
            if (kindError is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedParameterKind, parameterLocation, parameter.Name, methodDisplay, kindError));
                continue;
            }

            if (KnownTypeSymbols.Is(parameter.Type, known.TaskContextType))
            {
                if (++contextCount == 2)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateInjectedParameter, parameterLocation, methodDisplay, "Celeriac.TaskContext"));
                }

                parameters.Add(new ParameterModel(escaped, escaped, escaped, parameter.Name, ParameterKind.Context, null));
                continue;
            }

            if (KnownTypeSymbols.Is(parameter.Type, known.CancellationToken))
            {
                if (++tokenCount == 2)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateInjectedParameter, parameterLocation, methodDisplay, "System.Threading.CancellationToken"));
                }

                parameters.Add(new ParameterModel(escaped, escaped, escaped, parameter.Name, ParameterKind.CancellationToken, null));
                continue;
            }

            TypeRefModel? type = walker.Describe(parameter.Type, out string? typeError);
            if (type is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ParameterNotSerializable, parameterLocation, parameter.Name, methodDisplay, typeError ?? "unknown reason"));
                continue;
            }

            string stubName = parameter.Name;
            if (ReservedStubNames.Contains(stubName))
            {
                do
                {
                    stubName += "_";
                }
                while (usedStubNames.Contains(stubName) || ReservedStubNames.Contains(stubName));

                usedStubNames.Add(stubName);
            }

            string fieldName = parameter.Name == "Args" ? "Args_" : parameter.Name;
            parameters.Add(new ParameterModel(escaped, NameHelper.EscapeIdentifier(stubName), NameHelper.EscapeIdentifier(fieldName), parameter.Name, ParameterKind.Payload, type));
        }

        // Return type: CEL0004, CEL0102
        ReturnKind returnKind = ReturnKind.Void;
        TypeRefModel? result = null;
        ITypeSymbol? valueType = null;
        ITypeSymbol returnType = method.ReturnType;
        string returnDisplay = returnType.ToDisplayString();
        string? returnError = null;
        if (method.ReturnsByRef || method.ReturnsByRefReadonly)
        {
            returnError = "ref returns are not supported";
        }
        else if (method.ReturnsVoid)
        {
            returnKind = ReturnKind.Void;
            if (method.IsAsync)
            {
                returnError = "async void methods cannot be awaited; return Task or ValueTask";
            }
        }
        else if (KnownTypeSymbols.Is(returnType, known.Task))
        {
            returnKind = ReturnKind.Task;
        }
        else if (KnownTypeSymbols.Is(returnType, known.ValueTask))
        {
            returnKind = ReturnKind.ValueTask;
        }
        else if (KnownTypeSymbols.IsConstructedFrom(returnType, known.TaskOfT))
        {
            returnKind = ReturnKind.TaskOfT;
            valueType = ((INamedTypeSymbol)returnType).TypeArguments[0];
        }
        else if (KnownTypeSymbols.IsConstructedFrom(returnType, known.ValueTaskOfT))
        {
            returnKind = ReturnKind.ValueTaskOfT;
            valueType = ((INamedTypeSymbol)returnType).TypeArguments[0];
        }
        else if (KnownTypeSymbols.IsConstructedFrom(returnType, known.AsyncEnumerable))
        {
            returnError = "async streams are not supported; return a collection";
        }
        else if (returnType is IPointerTypeSymbol or IFunctionPointerTypeSymbol || returnType.IsRefLikeType)
        {
            returnError = "pointers and ref structs cannot be stored";
        }
        else
        {
            returnKind = ReturnKind.Value;
            valueType = returnType;
        }

        if (valueType is not null && (KnownTypeSymbols.Is(valueType, known.Task) || KnownTypeSymbols.Is(valueType, known.ValueTask)
            || KnownTypeSymbols.IsConstructedFrom(valueType, known.TaskOfT) || KnownTypeSymbols.IsConstructedFrom(valueType, known.ValueTaskOfT)))
        {
            returnError = "a task of a task is not awaited to completion; return the inner task";
            valueType = null;
        }

        if (returnError is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnsupportedReturnType, syntax.ReturnType.GetLocation(), methodDisplay, returnDisplay, returnError));
        }
        else if (valueType is not null)
        {
            result = walker.Describe(valueType, out string? typeError);
            if (result is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ReturnNotSerializable, syntax.ReturnType.GetLocation(), methodDisplay, typeError ?? "unknown reason"));
            }
        }

        // CEL0301–CEL0308
        PeriodicModel? periodic = PeriodicParser.Parse(method, methodDisplay, methodLocation, parameters, diagnostics, cancellationToken);

        // Only valid tasks take part in the duplicate-name check, so one mistake is reported once (overloads are CEL0006, not CEL0005).
        // Warnings (CEL0205) do not stop generation.
        bool hasErrors = diagnostics.Any(static d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error);
        TaskNameModel? nameModel = !hasErrors ? new TaskNameModel(taskName, methodDisplay, LocationInfo.From(methodLocation), options.Queue, options.QueueLocation) : null;
        EquatableArray<DiagnosticInfo> diagnosticArray = diagnostics.ToEquatableArray();
        if (hasErrors)
        {
            return new TaskParseResult(null, null, nameModel, diagnosticArray);
        }

        string containingFqn = containingType.ToDisplayString(PayloadTypeWalker.PlainFormat);
        var model = new TaskModel(
            context.SemanticModel.Compilation.AssemblyName ?? string.Empty,
            resolverFqn,
            ns,
            containingTypes.Select(t => new ContainingTypeModel(TypeKeyword(t), NameHelper.EscapeIdentifier(t.Name))).ToEquatableArray(),
            containingFqn,
            NameHelper.EscapeIdentifier(method.Name),
            className,
            method.DeclaredAccessibility == Accessibility.Public,
            taskName,
            options.Queue,
            options.Queue ?? Routing.DefaultQueue,
            options.Priority,
            options.Policy,
            method.IsStatic,
            returnKind,
            result,
            parameters.ToEquatableArray(),
            periodic);
        var registry = new RegistryItemModel(
            taskName, containingFqn + "." + className + ".Registration", walker.Formatters, walker.Lookups,
            periodic is null ? null : containingFqn + "." + className + ".Schedule");
        return new TaskParseResult(model, registry, nameModel, diagnosticArray);
    }

    internal static string? ValidateTaskName(string name)
    {
        if (name.Length == 0)
        {
            return "it is empty";
        }

        if (name.Length > MaxTaskNameLength)
        {
            return "it is longer than " + NameHelper.ToInvariant(MaxTaskNameLength) + " characters";
        }

        foreach (char c in name)
        {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c is '.' or '_' or '-' or ':';
            if (!ok)
            {
                return "only ASCII letters, digits, '.', '_', '-' and ':' are allowed";
            }
        }

        return null;
    }

    private static bool IsPartial(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        foreach (SyntaxReference reference in type.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(cancellationToken) is TypeDeclarationSyntax declaration
                && declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                return true;
            }
        }

        return false;
    }

    private static string? FindCollision(IMethodSymbol method, INamedTypeSymbol containingType, string className, KnownTypeSymbols known)
    {
        if (containingType.Name == className)
        {
            return "that is the name of the type itself";
        }

        if (!containingType.GetMembers(className).IsEmpty)
        {
            return "the type already has a member with that name";
        }

        // Overloads: only the first [Task] method with the name (in source order) gets the nested type.
        IMethodSymbol? first = containingType.GetMembers(method.Name)
            .OfType<IMethodSymbol>()
            .Where(m => m.GetAttributes().Any(a => KnownTypeSymbols.Is(a.AttributeClass, known.TaskAttributeType)))
            .OrderBy(m => m.Locations.FirstOrDefault()?.SourceTree?.FilePath ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(m => m.Locations.FirstOrDefault()?.SourceSpan.Start ?? 0)
            .FirstOrDefault();
        if (first is not null && !SymbolEqualityComparer.Default.Equals(first, method))
        {
            return "another [Task] method of the type has the same name";
        }

        return null;
    }

    private static string TypeKeyword(INamedTypeSymbol type) => type switch
    {
        { IsRecord: true, IsValueType: true } => "record struct",
        { IsRecord: true } => "record",
        { TypeKind: TypeKind.Struct } => "struct",
        { TypeKind: TypeKind.Interface } => "interface",
        _ => "class",
    };
}
