using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace PortShare.Cli;

/// <summary>
/// What every command's parsing shares, so that no value a user types ends in a stack trace: option validators never
/// see a value that did not convert, conversion errors are phrased for a person, and response files (<c>@FILE</c>) are
/// read only from small regular files.
/// </summary>
internal static partial class CliParsing
{
    private static readonly ConditionalWeakTable<Option, object> s_hardened = [];

    /// <summary>The parser configuration every run uses.</summary>
    public static ParserConfiguration Configuration { get; } = new() { ResponseFileTokenReplacer = ReadResponseFile };

    /// <summary>
    /// Makes every option validator of <paramref name="command"/> and its subcommands skip a value that did not convert
    /// to the option's type: the parser reports that itself (see <see cref="Describe"/>); a validator reading it would throw.
    /// </summary>
    public static void Harden(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (var option in command.Options)
        {
            if (s_hardened.TryGetValue(option, out _))
            {
                continue;
            }

            s_hardened.Add(option, new object());
            for (var i = 0; i < option.Validators.Count; i++)
            {
                var validate = option.Validators[i];
                option.Validators[i] = result =>
                {
                    try
                    {
                        validate(result);
                    }
                    catch (InvalidOperationException)
                    {
                        // The value did not convert; the parser's own error says so.
                    }
                };
            }
        }

        foreach (var sub in command.Subcommands)
        {
            Harden(sub);
        }
    }

    /// <summary>A parse error in words a person reads: a value of the wrong kind names the option and what it takes.</summary>
    public static string Describe(ParseError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var m = ConversionError().Match(error.Message);
        if (!m.Success)
        {
            return error.Message;
        }

        var kind = m.Groups["type"].Value switch
        {
            var t when t.Contains("Int32", StringComparison.Ordinal) || t.Contains("Int64", StringComparison.Ordinal) || t.Contains("UInt16", StringComparison.Ordinal) => "a whole number in range",
            var t when t.Contains("Double", StringComparison.Ordinal) => "a number",
            var t when t.Contains("DateTimeOffset", StringComparison.Ordinal) => "a time in ISO 8601 (e.g. 2026-11-25T10:00:00Z)",
            var t when t.Contains("Boolean", StringComparison.Ordinal) => "true or false",
            _ => "a value of the kind it takes",
        };
        return $"{m.Groups["option"].Value}: '{m.Groups["value"].Value}' is not {kind}.";
    }

    /// <summary>Expands <c>@FILE</c>: one or more arguments per line, <c>#</c> comments, double quotes group words.</summary>
    private static bool ReadResponseFile(string token, out IReadOnlyList<string>? tokens, out string? error)
    {
        tokens = null;
        try
        {
            var text = SafeFile.ReadSmallText(token, "the response file");
            var result = new List<string>();
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.Trim();
                if (line.Length > 0 && !line.StartsWith('#'))
                {
                    result.AddRange(SplitWords(line));
                }
            }

            tokens = result;
            error = null;
            return true;
        }
        catch (PortShareException ex)
        {
            error = $"@{token}: {ex.Message}";
            return false;
        }
    }

    private static IEnumerable<string> SplitWords(string line)
    {
        var word = new StringBuilder();
        var quoted = false;
        var any = false;
        foreach (var c in line)
        {
            if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (char.IsWhiteSpace(c) && !quoted)
            {
                if (any)
                {
                    yield return word.ToString();
                    word.Clear();
                    any = false;
                }
            }
            else
            {
                word.Append(c);
                any = true;
            }
        }

        if (any)
        {
            yield return word.ToString();
        }
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for option '(?<option>[^']+)' as expected type '(?<type>[^']+)'\.?$", RegexOptions.Singleline)]
    private static partial Regex ConversionError();
}
