namespace PortShare.Planning;

/// <summary>The spec cannot be planned (invalid, or infeasible on some egress IP); <see cref="Problems"/> lists every reason.</summary>
public sealed class PlanningException : PortShareException
{
    public PlanningException(IReadOnlyList<string> problems)
        : base(problems.Count == 1 ? problems[0] : $"{problems.Count} problems: {string.Join(" | ", problems)}")
    {
        Problems = problems;
    }

    public PlanningException(string message)
        : base(message)
    {
        Problems = [message];
    }

    public PlanningException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [message];
    }

    public PlanningException()
    {
        Problems = [];
    }

    public IReadOnlyList<string> Problems { get; }
}
