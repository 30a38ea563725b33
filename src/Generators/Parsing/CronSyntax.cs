using System;
using System.Collections.Generic;
using System.Globalization;

namespace Celeriac.Generators.Parsing;

/// <summary>
/// Checks a cron expression at compile time with the grammar the runtime's cron library (Cronos) accepts: five fields,
/// or six with seconds first, or a macro. Stricter where Cronos is lenient in ways users rarely mean (a range that runs
/// backwards is refused); a test checks that everything accepted here is accepted by Cronos.
/// </summary>
internal static class CronSyntax
{
    // Cronos's macros, normalized to lower case.
    private static readonly HashSet<string> Macros = new(StringComparer.Ordinal)
    {
        "@every_second", "@every_minute", "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually",
    };

    private static readonly string[] MonthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    private static readonly string[] DayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private enum Field
    {
        Second,
        Minute,
        Hour,
        DayOfMonth,
        Month,
        DayOfWeek,
    }

    /// <summary>Validates <paramref name="expression"/>; returns the normalized text (single spaces, macros lower case) or null with <paramref name="error"/> set.</summary>
    public static string? Normalize(string expression, out string? error)
    {
        string trimmed = expression.Trim();
        if (trimmed.Length == 0)
        {
            error = "it is empty";
            return null;
        }

        if (trimmed[0] == '@')
        {
            string macro = trimmed.ToLowerInvariant();
            if (!Macros.Contains(macro))
            {
                error = "'" + trimmed + "' is not a known macro (" + string.Join(", ", Sorted(Macros)) + ")";
                return null;
            }

            error = null;
            return macro;
        }

        string[] parts = trimmed.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is not (5 or 6))
        {
            error = "it has " + parts.Length.ToString(CultureInfo.InvariantCulture) + " fields; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)";
            return null;
        }

        Field[] fields = parts.Length == 6
            ? [Field.Second, Field.Minute, Field.Hour, Field.DayOfMonth, Field.Month, Field.DayOfWeek]
            : [Field.Minute, Field.Hour, Field.DayOfMonth, Field.Month, Field.DayOfWeek];
        for (int i = 0; i < parts.Length; i++)
        {
            string? problem = CheckField(parts[i].ToUpperInvariant(), fields[i]);
            if (problem is not null)
            {
                error = "the " + Describe(fields[i]) + " field '" + parts[i] + "' " + problem;
                return null;
            }
        }

        error = null;
        return string.Join(" ", parts);
    }

    private static string? CheckField(string text, Field field)
    {
        if (text == "?")
        {
            return field is Field.DayOfMonth or Field.DayOfWeek ? null : "uses '?', which only the day-of-month and day-of-week fields allow";
        }

        if (field == Field.DayOfMonth && (text == "L" || text == "LW"))
        {
            return null;
        }

        if (field == Field.DayOfMonth && text.StartsWith("L-", StringComparison.Ordinal))
        {
            return Number(text.Substring(2), 0, 30, field, out _) ? null : "must be L-n with n from 0 to 30";
        }

        if (field == Field.DayOfMonth && text.Length > 1 && text[text.Length - 1] == 'W')
        {
            return Number(text.Substring(0, text.Length - 1), 1, 31, field, out _) ? null : "must be nW with a day from 1 to 31";
        }

        if (field == Field.DayOfWeek && text.IndexOf('#') > 0)
        {
            int hash = text.IndexOf('#');
            return Value(text.Substring(0, hash), field, out _) && Number(text.Substring(hash + 1), 1, 5, field, out _)
                ? null
                : "must be day#n with n from 1 to 5";
        }

        if (field == Field.DayOfWeek && text.Length > 1 && text[text.Length - 1] == 'L')
        {
            return Value(text.Substring(0, text.Length - 1), field, out _) ? null : "must be dayL (the last such day of the month)";
        }

        foreach (string item in text.Split(','))
        {
            string? problem = CheckItem(item, field);
            if (problem is not null)
            {
                return problem;
            }
        }

        return null;
    }

    private static string? CheckItem(string item, Field field)
    {
        (int min, int max) = Bounds(field);
        if (item.Length == 0)
        {
            return "has an empty list item";
        }

        string range = item;
        int slash = item.IndexOf('/');
        if (slash >= 0)
        {
            range = item.Substring(0, slash);
            if (!Number(item.Substring(slash + 1), 1, max - min + 1, Field.Second, out _))
            {
                return "has the step '" + item.Substring(slash + 1) + "'; a step is a number from 1 to " + (max - min + 1).ToString(CultureInfo.InvariantCulture);
            }
        }

        if (range == "*")
        {
            return null;
        }

        int dash = range.IndexOf('-');
        if (dash < 0)
        {
            return Value(range, field, out _) ? null : OutOfRange(range, field);
        }

        string low = range.Substring(0, dash);
        string high = range.Substring(dash + 1);
        if (!Value(low, field, out int from))
        {
            return OutOfRange(low, field);
        }

        if (!Value(high, field, out int to))
        {
            return OutOfRange(high, field);
        }

        return from <= to ? null : "has the range '" + range + "', which runs backwards";
    }

    private static bool Value(string text, Field field, out int value)
    {
        (int min, int max) = Bounds(field);
        string[]? names = field switch
        {
            Field.Month => MonthNames,
            Field.DayOfWeek => DayNames,
            _ => null,
        };
        if (names is not null)
        {
            int index = Array.IndexOf(names, text);
            if (index >= 0)
            {
                value = field == Field.Month ? index + 1 : index;
                return true;
            }
        }

        return Number(text, min, max, field, out value);
    }

    private static bool Number(string text, int min, int max, Field field, out int value)
    {
        _ = field;
        value = 0;
        if (text.Length == 0 || text.Length > 4)
        {
            return false;
        }

        foreach (char c in text)
        {
            if (c < '0' || c > '9')
            {
                return false;
            }
        }

        value = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return value >= min && value <= max;
    }

    private static string OutOfRange(string text, Field field)
    {
        (int min, int max) = Bounds(field);
        string names = field switch
        {
            Field.Month => " or JAN-DEC",
            Field.DayOfWeek => " or SUN-SAT",
            _ => string.Empty,
        };
        return "has '" + text + "', which is not a value from " + min.ToString(CultureInfo.InvariantCulture) + " to " + max.ToString(CultureInfo.InvariantCulture) + names;
    }

    private static (int Min, int Max) Bounds(Field field) => field switch
    {
        Field.Second or Field.Minute => (0, 59),
        Field.Hour => (0, 23),
        Field.DayOfMonth => (1, 31),
        Field.Month => (1, 12),
        _ => (0, 7), // 7 is Sunday too
    };

    private static string Describe(Field field) => field switch
    {
        Field.Second => "second",
        Field.Minute => "minute",
        Field.Hour => "hour",
        Field.DayOfMonth => "day-of-month",
        Field.Month => "month",
        _ => "day-of-week",
    };

    private static List<string> Sorted(HashSet<string> set)
    {
        var list = new List<string>(set);
        list.Sort(StringComparer.Ordinal);
        return list;
    }
}
