using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Celeriac.Generators.Diagnostics;
using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Celeriac.Generators.Parsing;

/// <summary>The named arguments of one <c>[Task]</c> application, validated.</summary>
internal sealed class TaskAttributeValues
{
    public string? Name { get; set; }

    public string? Queue { get; set; }

    public LocationInfo? QueueLocation { get; set; }

    public int Priority { get; set; }

    public TaskPolicyModel Policy { get; set; } = TaskPolicyModel.Default;
}

/// <summary>Reads <c>[Task(...)]</c> named arguments into values, reporting invalid option values (CEL0201–CEL0206).</summary>
internal static class TaskAttributeParser
{
    public static TaskAttributeValues Parse(AttributeData attribute, string taskDisplay, Location fallback, KnownTypeSymbols known, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        var values = new TaskAttributeValues();
        AttributeSyntax? syntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
        int maxRetries = 0;
        string? backoff = null, backoffMax = null, timeLimit = null, softTimeLimit = null;
        string? timeLimitText = null, softTimeLimitText = null;
        bool jitter = true, deadLetter = false;
        int execution = 0;
        string? rateIntervalMs = null;
        var retryOn = new List<string>();
        var dontRetryOn = new List<string>();

        foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
        {
            Location location = ArgumentLocation(syntax, argument.Key) ?? fallback;
            object? value = argument.Value.Kind == TypedConstantKind.Array ? null : argument.Value.Value;
            switch (argument.Key)
            {
                case "Name":
                    values.Name = value as string;
                    break;
                case "Queue":
                    values.Queue = value as string;
                    values.QueueLocation = LocationInfo.From(location);
                    break;
                case "Priority" when value is int p:
                    values.Priority = p;
                    if (p is < 0 or > 9)
                    {
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PriorityOutOfRange, location, taskDisplay, Invariant(p)));
                    }

                    break;
                case "Execution" when value is int e:
                    execution = e;
                    if (e is < 0 or > 1)
                    {
                        execution = 0;
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownExecution, location, taskDisplay, Invariant(e)));
                    }

                    break;
                case "MaxRetries" when value is int r:
                    maxRetries = r;
                    if (r < 0)
                    {
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NegativeMaxRetries, location, taskDisplay, Invariant(r)));
                    }

                    break;
                case "RetryJitter" when value is bool j:
                    jitter = j;
                    break;
                case "DeadLetterOnFailure" when value is bool d:
                    deadLetter = d;
                    break;
                case "RetryBackoff":
                    backoff = Duration(argument.Key, value as string, taskDisplay, location, allowZero: true, diagnostics);
                    break;
                case "RetryBackoffMax":
                    backoffMax = Duration(argument.Key, value as string, taskDisplay, location, allowZero: true, diagnostics);
                    break;
                case "TimeLimit":
                    timeLimitText = value as string;
                    timeLimit = Duration(argument.Key, timeLimitText, taskDisplay, location, allowZero: false, diagnostics);
                    break;
                case "SoftTimeLimit":
                    softTimeLimitText = value as string;
                    softTimeLimit = Duration(argument.Key, softTimeLimitText, taskDisplay, location, allowZero: false, diagnostics);
                    break;
                case "RateLimit" when value is string rate:
                    string? rateError = OptionValueParser.ValidateRateLimit(rate);
                    if (rateError is not null)
                    {
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidRateLimit, location, taskDisplay, rate, rateError));
                    }
                    else
                    {
                        rateIntervalMs = OptionValueParser.RateLimitIntervalMilliseconds(rate);
                    }

                    break;
                case "RetryOn":
                    ExceptionTypes(argument.Key, argument.Value, taskDisplay, location, known, retryOn, diagnostics);
                    break;
                case "DontRetryOn":
                    ExceptionTypes(argument.Key, argument.Value, taskDisplay, location, known, dontRetryOn, diagnostics);
                    break;
            }
        }

        if (timeLimit is not null && softTimeLimit is not null
            && decimal.Parse(softTimeLimit, CultureInfo.InvariantCulture) >= decimal.Parse(timeLimit, CultureInfo.InvariantCulture))
        {
            Location location = ArgumentLocation(syntax, "SoftTimeLimit") ?? fallback;
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SoftTimeLimitNotBelowTimeLimit, location, taskDisplay, softTimeLimitText!, timeLimitText!));
        }

        values.Policy = new TaskPolicyModel(
            maxRetries, backoff, backoffMax, jitter, retryOn.ToEquatableArray(), dontRetryOn.ToEquatableArray(), deadLetter, timeLimit, softTimeLimit, execution, rateIntervalMs);
        return values;
    }

    private static string? Duration(string option, string? text, string taskDisplay, Location location, bool allowZero, List<DiagnosticInfo> diagnostics)
    {
        if (text is null)
        {
            return null;
        }

        string? ms = OptionValueParser.ParseDurationMilliseconds(text, out string? error);
        if (ms is not null && !allowZero && ms == "0")
        {
            ms = null;
            error = "it must be longer than zero";
        }

        if (ms is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidDuration, location, option, taskDisplay, text, error ?? "unknown reason"));
        }

        return ms;
    }

    private static void ExceptionTypes(string option, TypedConstant array, string taskDisplay, Location location, KnownTypeSymbols known, List<string> into, List<DiagnosticInfo> diagnostics)
    {
        if (array.Kind != TypedConstantKind.Array || array.IsNull)
        {
            return;
        }

        foreach (TypedConstant element in array.Values)
        {
            if (element.Value is not ITypeSymbol type || type.TypeKind == TypeKind.Error)
            {
                continue;
            }

            if (!DerivesFrom(type, known.Exception))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotAnExceptionType, location, option, taskDisplay, type.ToDisplayString()));
                continue;
            }

            string fqn = type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
            if (!into.Contains(fqn))
            {
                into.Add(fqn);
            }
        }
    }

    private static bool DerivesFrom(ITypeSymbol type, INamedTypeSymbol? baseType)
    {
        if (baseType is null)
        {
            return false;
        }

        for (ITypeSymbol? current = type; current is not null; current = current.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(current, baseType))
            {
                return true;
            }
        }

        return false;
    }

    private static Location? ArgumentLocation(AttributeSyntax? syntax, string name)
        => syntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name)?.GetLocation();

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
