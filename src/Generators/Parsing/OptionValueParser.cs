using System.Globalization;

namespace Celeriac.Generators.Parsing;

/// <summary>Parses the string-valued options of <c>[Task]</c> (durations, rate limits) exactly as the runtime documents them.</summary>
internal static class OptionValueParser
{
    // TimeSpan.MaxValue in whole milliseconds: a longer duration would overflow TimeSpan.FromMilliseconds at run time.
    private const decimal MaxMilliseconds = 922337203685477m;

    /// <summary>
    /// Parses <c>{number}{unit}</c> (integer or decimal, unit ms|s|m|h) into milliseconds as an invariant literal.
    /// Returns null with <paramref name="error"/> set when the text is malformed.
    /// </summary>
    public static string? ParseDurationMilliseconds(string text, out string? error)
    {
        error = null;
        int unitStart = 0;
        while (unitStart < text.Length && ((text[unitStart] >= '0' && text[unitStart] <= '9') || text[unitStart] == '.'))
        {
            unitStart++;
        }

        string number = text.Substring(0, unitStart);
        string unit = text.Substring(unitStart);
        decimal factor;
        switch (unit)
        {
            case "ms": factor = 1m; break;
            case "s": factor = 1000m; break;
            case "m": factor = 60_000m; break;
            case "h": factor = 3_600_000m; break;
            default:
                error = "expected a number followed by ms, s, m or h (500ms, 10s, 1.5m, 1h)";
                return null;
        }

        if (!IsDecimalNumber(number)
            || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
        {
            error = "expected a number followed by ms, s, m or h (500ms, 10s, 1.5m, 1h)";
            return null;
        }

        if (value > MaxMilliseconds / factor)
        {
            error = "it is longer than TimeSpan can hold";
            return null;
        }

        decimal ms = value * factor;
        return ms.ToString("0.############", CultureInfo.InvariantCulture);
    }

    /// <summary>Validates <c>{count}/{unit}</c> with a positive integer count and unit s|m|h; returns the error or null.</summary>
    public static string? ValidateRateLimit(string text)
    {
        int slash = text.IndexOf('/');
        if (slash <= 0 || slash == text.Length - 1)
        {
            return "expected count/unit with unit s, m or h (100/s, 10/m, 1000/h)";
        }

        string count = text.Substring(0, slash);
        string unit = text.Substring(slash + 1);
        if (unit is not ("s" or "m" or "h"))
        {
            return "the unit '" + unit + "' is not s, m or h";
        }

        foreach (char c in count)
        {
            if (c < '0' || c > '9')
            {
                return "the count '" + count + "' is not a whole number";
            }
        }

        if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n <= 0)
        {
            return "the count must be between 1 and " + int.MaxValue.ToString(CultureInfo.InvariantCulture);
        }

        return null;
    }

    /// <summary>The spacing between starts of a valid rate limit (<see cref="ValidateRateLimit"/>): the unit over the count, in milliseconds.</summary>
    public static string RateLimitIntervalMilliseconds(string text)
    {
        int slash = text.IndexOf('/');
        int count = int.Parse(text.Substring(0, slash), NumberStyles.None, CultureInfo.InvariantCulture);
        decimal unitMs = text.Substring(slash + 1) switch { "s" => 1000m, "m" => 60_000m, _ => 3_600_000m };
        return decimal.Round(unitMs / count, 6).ToString("0.######", CultureInfo.InvariantCulture);
    }

    private static bool IsDecimalNumber(string number)
    {
        int dot = number.IndexOf('.');
        if (number.Length == 0 || dot == 0 || dot == number.Length - 1)
        {
            return false;
        }

        return dot < 0 || number.IndexOf('.', dot + 1) < 0;
    }
}
