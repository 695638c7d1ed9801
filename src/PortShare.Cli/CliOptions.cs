using System.CommandLine;
using System.Globalization;
using System.Net;
using PortShare.Connect;

namespace PortShare.Cli;

/// <summary>Options and arguments shared by several commands, with parsers that name the bad input.</summary>
internal static class CliOptions
{
    /// <summary><c>--verbose</c> on every command: errors also print their stack trace.</summary>
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "On an error, also print its stack trace (for reporting a bug).",
        Recursive = true,
    };

    public static Option<PortSlice?> Slice() => new("--slice")
    {
        Description = "The port slice: LO-HI (e.g. 40000-40511), or several ranges separated by commas (40000-40099,40200-40511).",
        HelpName = "LO-HI[,LO-HI…]",
        CustomParser = result => Commands.CliParsers.Slices(result) is [var slice] ? slice : null,
    };

    public static Option<IPAddress?> LocalAddress() => new("--local-address")
    {
        Description = "The egress (local) IP address to connect from; default: chosen by the routing table.",
        CustomParser = Commands.CliParsers.Address,
    };

    public static Option<ConnectStrategy?> Strategy() => new("--strategy")
    {
        Description = "auto (kernel path where supported, the default), kernel (IP_LOCAL_PORT_RANGE, Linux >= 6.3) or fallback (bind-before-connect).",
        HelpName = "auto|kernel|fallback",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
            foreach (var s in Enum.GetValues<ConnectStrategy>())
            {
                if (string.Equals(text, s.ToString(), StringComparison.OrdinalIgnoreCase))
                {
                    return s;
                }
            }

            r.AddError($"--strategy '{text}' is not a strategy: use auto, kernel or fallback.");
            return null;
        },
    };

    public static Option<bool> Json() => new("--json")
    {
        Description = "Write machine-readable JSON to stdout instead of a table.",
    };

    /// <summary>Parses <c>HOST:PORT</c>, <c>IP:PORT</c> or <c>[IPv6]:PORT</c>.</summary>
    public static bool TryParseHostPort(string text, out string host, out int port, out string error)
    {
        host = string.Empty;
        port = 0;
        error = string.Empty;
        if (IPEndPoint.TryParse(text, out var ep) && ep.Port != 0 && (text.Contains(']', StringComparison.Ordinal) || ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
        {
            host = ep.Address.ToString();
            port = ep.Port;
            return true;
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            error = $"'{text}' is not HOST:PORT (the port is missing; for IPv6 write [ADDRESS]:PORT).";
            return false;
        }

        var hostPart = text[..colon];
        if (hostPart.Contains(':', StringComparison.Ordinal) && !hostPart.StartsWith('['))
        {
            error = $"'{text}' is ambiguous: write an IPv6 destination as [ADDRESS]:PORT.";
            return false;
        }

        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"'{text}': the port '{text[(colon + 1)..]}' is not a number from 1 to 65535.";
            return false;
        }

        host = hostPart.Trim('[', ']');
        return true;
    }
}
