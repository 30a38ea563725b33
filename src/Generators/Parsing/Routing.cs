using System.Collections.Generic;
using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;

namespace Celeriac.Generators.Parsing;

/// <summary>Queue-name and glob rules, and the compile-time route resolution (Celery <c>task_routes</c> semantics).</summary>
internal static class Routing
{
    public const string DefaultQueue = QueueNameRules.DefaultQueue;

    /// <summary>Why <paramref name="name"/> is not a valid queue name, or null: the rules the runtime applies (one shared source file).</summary>
    public static string? ValidateQueueName(string? name) => QueueNameRules.Validate(name);

    /// <summary>Why <paramref name="pattern"/> is not a valid route glob, or null.</summary>
    public static string? ValidatePattern(string? pattern)
    {
        if (pattern is null || pattern.Length == 0)
        {
            return "it is empty";
        }

        if (pattern.Length > TaskParser.MaxTaskNameLength)
        {
            return "it is longer than " + NameHelper.ToInvariant(TaskParser.MaxTaskNameLength) + " characters";
        }

        foreach (char c in pattern)
        {
            if (!IsNameChar(c) && c is not ('*' or '?'))
            {
                return c is '[' or ']' or '^' or '$' or '(' or ')' or '+' or '\\'
                    ? "only '*' (any run of characters) and '?' (one character) are wildcards; character classes and regular expressions are not supported"
                    : "'" + c + "' cannot occur in a task name; use task-name characters, '*' and '?'";
            }
        }

        return null;
    }

    /// <summary>Glob match: '*' any run (possibly empty), '?' one character, anything else itself (ordinal).</summary>
    public static bool Matches(string pattern, string name)
    {
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == name[n]))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = n;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    /// <summary>Precedence: <c>[Task(Queue = ...)]</c>, then the first matching route, then <c>default</c>.</summary>
    public static string Resolve(string taskName, string? explicitQueue, RouteTableModel table)
    {
        if (explicitQueue is not null)
        {
            return explicitQueue;
        }

        foreach (RouteEntryModel route in table.Routes)
        {
            if (Matches(route.Pattern, taskName))
            {
                return route.Queue;
            }
        }

        return DefaultQueue;
    }

    /// <summary>A PascalCase identifier for a queue constant (<c>billing.eu-west</c> → <c>BillingEuWest</c>).</summary>
    public static string ConstantName(string queue)
    {
        var sb = new System.Text.StringBuilder(queue.Length + 1);
        bool upper = true;
        foreach (char c in queue)
        {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            {
                sb.Append(upper && c >= 'a' && c <= 'z' ? (char)(c - 32) : c);
                upper = false;
            }
            else
            {
                upper = true;
            }
        }

        if (sb.Length == 0 || (sb[0] >= '0' && sb[0] <= '9'))
        {
            sb.Insert(0, 'Q');
        }

        return sb.ToString();
    }

    /// <summary>Constant names for sorted queue names, made unique deterministically (<c>_2</c>, <c>_3</c>…).</summary>
    public static List<KeyValuePair<string, string>> ConstantNames(IEnumerable<string> sortedQueues)
    {
        var used = new HashSet<string>(System.StringComparer.Ordinal) { "Default", "All" };
        var result = new List<KeyValuePair<string, string>>();
        foreach (string queue in sortedQueues)
        {
            string name = ConstantName(queue);
            string candidate = name;
            for (int i = 2; !used.Add(candidate); i++)
            {
                candidate = name + "_" + NameHelper.ToInvariant(i);
            }

            result.Add(new KeyValuePair<string, string>(queue, candidate));
        }

        return result;
    }

    private static bool IsNameChar(char c)
        => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c is '.' or '_' or '-' or ':';
}
