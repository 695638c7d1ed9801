using System.Net;
using PortShare.Planning;

namespace PortShare.Routing;

/// <summary>
/// One slice of the return path: replies to <see cref="Egress"/> on a destination port in <see cref="Range"/> go to
/// host <see cref="Host"/>, reached at <see cref="NextHop"/>.
/// </summary>
/// <param name="Egress">The shared egress address.</param>
/// <param name="Host">The owning host's name (letters, digits, '.', '_' and '-').</param>
/// <param name="NextHop">The owning host's address on the router's link, of the egress address's family.</param>
/// <param name="Range">The slice's ports.</param>
public sealed record RouteSlice(IPAddress Egress, string Host, IPAddress NextHop, PortRange Range);

/// <summary>
/// Checks a set of <see cref="RouteSlice"/>s before anything touches the kernel, with the router's rules as
/// <see cref="PlanValidator.ValidateRoutes"/> holds them (the one validator of plans and routes).
/// </summary>
public static class RouteValidation
{
    /// <summary>True when <paramref name="name"/> is an acceptable host (or namespace) name.</summary>
    public static bool IsValidName(string? name) => PlanValidator.IsValidHostName(name);

    /// <summary>Every problem of the slice set, each naming the slice and how to fix it; empty when it is usable.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<RouteSlice> slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        var routes = new RouteEntry[slices.Count];
        for (var i = 0; i < routes.Length; i++)
        {
            var s = slices[i];
            routes[i] = new RouteEntry(s.Egress, s.Host, s.NextHop, s.Range);
        }

        return [.. PlanValidator.ValidateRoutes(routes).Where(i => i.Severity == IssueSeverity.Error).Select(i => i.Message)];
    }

    /// <summary>Throws <see cref="InvalidPlanException"/> listing every problem, or returns.</summary>
    public static void ThrowIfInvalid(IReadOnlyList<RouteSlice> slices)
    {
        var errors = Validate(slices);
        if (errors.Count > 0)
        {
            throw new InvalidPlanException(errors);
        }
    }
}

/// <summary>A plan (or slice set) that cannot be applied; <see cref="Errors"/> lists every problem.</summary>
public sealed class InvalidPlanException : PortShareException
{
    /// <summary>Creates the exception from the list of problems.</summary>
    public InvalidPlanException(IReadOnlyList<string> errors)
        : base($"The plan is invalid ({errors.Count:N0} problem(s)): {Summarize(errors)}")
    {
        Errors = errors;
    }

    /// <summary>Creates the exception.</summary>
    public InvalidPlanException()
    {
        Errors = [];
    }

    /// <summary>Creates the exception.</summary>
    public InvalidPlanException(string message)
        : base(message)
    {
        Errors = [message];
    }

    /// <summary>Creates the exception.</summary>
    public InvalidPlanException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<string> Errors { get; }
}

/// <summary>A tool PortShare drives (ip, nft) failed or is missing; the message holds its own error text.</summary>
public sealed class RoutingException : PortShareException
{
    /// <summary>Creates the exception.</summary>
    public RoutingException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RoutingException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RoutingException()
    {
    }
}
