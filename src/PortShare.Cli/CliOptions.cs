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

    /// <summary>
    /// Parses <c>HOST:PORT</c>, <c>A.B.C.D:PORT</c> or <c>[IPv6]:PORT</c> (with an optional <c>%zone</c> naming an existing
    /// interface). <paramref name="host"/> is the IP literal (normalised) or the DNS name; <paramref name="error"/> names
    /// the input and what is wrong.
    /// </summary>
    public static bool TryParseHostPort(string? text, out string host, out int port, out string error)
    {
        host = string.Empty;
        port = 0;
        text = text?.Trim() ?? string.Empty;
        if (text.Length == 0)
        {
            error = "the destination is empty: give HOST:PORT, e.g. 127.0.0.1:8080, [::1]:8080 or localhost:8080.";
            return false;
        }

        string hostPart;
        string portPart;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                error = $"'{text}' is not [IPv6]:PORT: {(close < 0 ? "the ']' is missing" : "a ':' and the port must follow the ']'")}.";
                return false;
            }

            hostPart = text[1..close];
            portPart = text[(close + 2)..];
            if (!AddressText.TryParse(hostPart, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                error = $"'{text}': '{hostPart}' is not an IPv6 address.";
                return false;
            }

            var zone = hostPart.IndexOf('%', StringComparison.Ordinal);
            if (zone >= 0 && v6.ScopeId == 0)
            {
                error = $"'{text}': the zone '{hostPart[(zone + 1)..]}' is not an interface of this host.";
                return false;
            }

            host = AddressText.Format(v6);
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon < 0 || colon == text.Length - 1)
            {
                error = $"'{text}' is not HOST:PORT (the port is missing; for IPv6 write [ADDRESS]:PORT).";
                return false;
            }

            hostPart = text[..colon];
            portPart = text[(colon + 1)..];
            if (hostPart.Contains(':', StringComparison.Ordinal))
            {
                error = $"'{text}' is ambiguous: write an IPv6 destination as [ADDRESS]:PORT.";
                return false;
            }

            if (hostPart.All(c => char.IsAsciiDigit(c) || c == '.'))
            {
                // IPAddress.TryParse takes "12345" or "10.1" as IPv4; a destination is written a.b.c.d.
                if (hostPart.Count(c => c == '.') != 3 || !AddressText.TryParse(hostPart, out var v4))
                {
                    error = $"'{text}': '{hostPart}' is not an IPv4 address (write A.B.C.D).";
                    return false;
                }

                host = AddressText.Format(v4);
            }
            else if (!IsHostName(hostPart))
            {
                error = $"'{text}': '{hostPart}' is not a host name (letters, digits, '-' and '.'), nor an IP address.";
                return false;
            }
            else
            {
                host = hostPart;
            }
        }

        if (!int.TryParse(portPart, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"'{text}': the port '{portPart}' is not a number from 1 to 65535.";
            port = 0;
            return false;
        }

        error = string.Empty;
        return true;
    }

    private static bool IsHostName(string name) =>
        name.Length is > 0 and <= 253
        && name.Split('.').All(label => label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'));
}
