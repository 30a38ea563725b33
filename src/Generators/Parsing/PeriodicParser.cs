using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Celeriac.Generators.Diagnostics;
using Celeriac.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Celeriac.Generators.Parsing;

/// <summary>Reads the <c>[Periodic]</c> attribute of a task method into a <see cref="PeriodicModel"/>, reporting CEL0301–CEL0307.</summary>
internal static class PeriodicParser
{
    public const string PeriodicAttribute = "Celeriac.PeriodicAttribute";
    public const int MaxMissedRunsLimit = 1000;
    private const long MinimumEveryMs = 1000;
    private const long MaximumEveryMs = 366L * 24 * 60 * 60 * 1000;

    /// <summary>The schedule of <paramref name="method"/>, or null when it has no <c>[Periodic]</c> or the schedule is invalid (then diagnostics were added).</summary>
    public static PeriodicModel? Parse(IMethodSymbol method, string taskDisplay, Location fallback, IReadOnlyList<ParameterModel> parameters, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        AttributeData? attribute = method.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == PeriodicAttribute);
        if (attribute is null)
        {
            return null;
        }

        AttributeSyntax? syntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
        Location attributeLocation = syntax?.GetLocation() ?? fallback;
        int before = diagnostics.Count;

        // CEL0303: a tick has no values for serialized parameters.
        foreach (ParameterModel parameter in parameters)
        {
            if (parameter.Kind == ParameterKind.Payload)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PeriodicTaskHasArguments, attributeLocation, taskDisplay, parameter.RawName));
            }
        }

        string? cron = null;
        Location cronLocation = attributeLocation;
        if (attribute.ConstructorArguments.Length == 1)
        {
            cron = attribute.ConstructorArguments[0].Value as string;
            if (syntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals is null) is { } positional)
            {
                cronLocation = positional.GetLocation();
            }

            if (cron is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidCron, cronLocation, "null", taskDisplay, "it is null"));
            }
        }

        string? every = null, timeZone = null;
        Location everyLocation = attributeLocation, timeZoneLocation = attributeLocation;
        int missed = 0, maxMissed = 10;
        foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
        {
            Location location = syntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == argument.Key)?.GetLocation() ?? attributeLocation;
            switch (argument.Key)
            {
                case "Every":
                    every = argument.Value.Value as string;
                    everyLocation = location;
                    break;
                case "TimeZone":
                    timeZone = argument.Value.Value as string;
                    timeZoneLocation = location;
                    break;
                case "MissedTicks" when argument.Value.Value is int m:
                    missed = m;
                    if (m is < 0 or > 2)
                    {
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownMissedTicks, location, taskDisplay, m.ToString(CultureInfo.InvariantCulture)));
                    }

                    break;
                case "MaxMissedRuns" when argument.Value.Value is int n:
                    maxMissed = n;
                    if (n is < 1 or > MaxMissedRunsLimit)
                    {
                        diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MaxMissedRunsOutOfRange, location, taskDisplay, n.ToString(CultureInfo.InvariantCulture)));
                    }

                    break;
            }
        }

        // CEL0304: exactly one of a cron expression and an interval.
        bool hasCron = attribute.ConstructorArguments.Length == 1;
        if (hasCron == (every is not null))
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.ScheduleKindAmbiguous, attributeLocation, taskDisplay,
                hasCron ? "has both a cron expression and Every" : "has neither a cron expression nor Every"));
        }

        // CEL0301
        string? normalizedCron = null;
        if (cron is not null)
        {
            normalizedCron = CronSyntax.Normalize(cron, out string? cronError);
            if (cronError is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidCron, cronLocation, cron, taskDisplay, cronError));
            }
        }

        // CEL0305
        long everyMs = 0;
        if (every is not null && !hasCron)
        {
            string? intervalError = ParseInterval(every, out everyMs);
            if (intervalError is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidInterval, everyLocation, every, taskDisplay, intervalError));
            }
        }

        // CEL0302, CEL0306
        if (timeZone is not null)
        {
            if (!hasCron && every is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TimeZoneWithInterval, timeZoneLocation, taskDisplay, timeZone));
            }
            else if (!TimeZoneIds.All.Contains(timeZone))
            {
                string? suggestion = TimeZoneIds.All.FirstOrDefault(id => string.Equals(id, timeZone, System.StringComparison.OrdinalIgnoreCase));
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.UnknownTimeZone, timeZoneLocation, timeZone, taskDisplay,
                    suggestion is null ? string.Empty : " (did you mean '" + suggestion + "'?)"));
            }
        }

        if (diagnostics.Count > before)
        {
            return null;
        }

        return new PeriodicModel(normalizedCron, everyMs, timeZone == "UTC" || timeZone == "Etc/UTC" ? null : timeZone, missed, maxMissed);
    }

    /// <summary>Parses an interval such as <c>30s</c>, <c>1h30m</c> or <c>1s500ms</c>; returns the problem, or null with <paramref name="milliseconds"/> set.</summary>
    internal static string? ParseInterval(string text, out long milliseconds)
    {
        milliseconds = 0;
        string s = text.Trim();
        if (s.Length == 0)
        {
            return "it is empty";
        }

        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && s[i] >= '0' && s[i] <= '9')
            {
                i++;
            }

            if (i == start || i - start > 9)
            {
                return "expected a number of at most 9 digits at position " + (start + 1).ToString(CultureInfo.InvariantCulture) + "; write a number and a unit (ms, s, m, h, d), e.g. 30s or 1h30m";
            }

            long number = long.Parse(s.Substring(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture);
            int unitStart = i;
            while (i < s.Length && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            {
                i++;
            }

            long unit = s.Substring(unitStart, i - unitStart) switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => 0,
            };
            if (unit == 0)
            {
                return "'" + s.Substring(unitStart, i - unitStart) + "' is not a unit; use ms, s, m, h or d";
            }

            milliseconds += number * unit;
            if (milliseconds > MaximumEveryMs)
            {
                return "it is longer than 366 days; use a cron expression";
            }
        }

        return milliseconds < MinimumEveryMs ? "it is shorter than one second" : null;
    }
}
