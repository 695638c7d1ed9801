using System.Runtime.InteropServices;

namespace PortShare.Planning;

/// <summary>
/// A plan's lists (<see cref="EgressPlan.Slices"/>, <see cref="HostSlice.Ranges"/>, …) are <see cref="IReadOnlyList{T}"/>
/// and, as the planner and the reader make them, arrays. Read through the interface, every item costs an interface call
/// (a stub dispatch; for an array of a PortShare struct, through array methods compiled at run time): a tenth of a
/// fleet's <c>plan update</c>. The loops that walk every slice take the items as a span instead.
/// </summary>
internal static class ListSpan
{
    /// <summary>The items of <paramref name="list"/>: an array's or a <see cref="List{T}"/>'s own, any other list's copied.</summary>
    public static ReadOnlySpan<T> Of<T>(IReadOnlyList<T> list) => list switch
    {
        T[] array => array,
        List<T> items => CollectionsMarshal.AsSpan(items),
        _ => list.ToArray(),
    };
}
