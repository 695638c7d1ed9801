using System.CommandLine.Parsing;
using System.Net;

namespace PortShare.Cli.Commands;

/// <summary>Parsers for option values shared by the commands: each reports one clear error naming the input.</summary>
internal static class CliParsers
{
    public static PortSlice[]? Slices(ArgumentResult result)
    {
        var slices = new List<PortSlice>();
        foreach (var token in result.Tokens)
        {
            if (!PortSlice.TryParse(token.Value, out var slice, out var error))
            {
                result.AddError($"--slice: {error}");
                return null;
            }

            slices.Add(slice);
        }

        return [.. slices];
    }

    public static IPAddress? Address(ArgumentResult result)
    {
        if (result.Tokens.Count == 0)
        {
            return null;
        }

        var text = result.Tokens[0].Value;
        if (!AddressText.TryParse(text, out var address))
        {
            result.AddError($"'{text}' is not an IPv4 or IPv6 address.");
            return null;
        }

        return address;
    }
}
