namespace PortShare.Planning;

/// <summary>
/// Dense ids for host names, so that the planner and the diff index per-host state by int arrays rather than building a
/// dictionary of names per egress IP. A plan lists the same hosts on every egress IP, usually in the same order: a list's
/// slice k is first checked against the host of slice k of the list looked up before (one string comparison), and only
/// hashed when that guess is wrong.
/// </summary>
internal sealed class HostIds
{
    private readonly Dictionary<string, int> _ids;
    private readonly List<string> _names;

    public HostIds(int capacity = 0)
    {
        _ids = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
        _names = new List<string>(capacity);
    }

    /// <summary>How many names have ids (0 to Count - 1).</summary>
    public int Count => _names.Count;

    /// <summary>The name of id <paramref name="id"/>.</summary>
    public string this[int id] => _names[id];

    /// <summary>The id of <paramref name="name"/>, adding it when new. A null name (a plan made in code against the
    /// annotations) is the empty name, which the validator reports as invalid.</summary>
    public int Add(string name)
    {
        name ??= string.Empty;
        if (!_ids.TryGetValue(name, out var id))
        {
            id = _names.Count;
            _ids.Add(name, id);
            _names.Add(name);
        }

        return id;
    }

    /// <summary>
    /// The id of each slice's host (new names added when <paramref name="add"/>, else -1). <paramref name="guess"/> is the
    /// answer for the list looked up before (same egress IP order): where it names the same host, no hashing is done.
    /// </summary>
    public int[] Of(IReadOnlyList<HostSlice> list, int[]? guess, bool add)
    {
        var slices = ListSpan.Of(list);
        var ids = new int[slices.Length];
        for (var k = 0; k < ids.Length; k++)
        {
            var name = slices[k].Host ?? string.Empty;
            if (guess is not null && k < guess.Length && guess[k] >= 0 && string.Equals(_names[guess[k]], name, StringComparison.Ordinal))
            {
                ids[k] = guess[k];
            }
            else if (_ids.TryGetValue(name, out var id))
            {
                ids[k] = id;
            }
            else
            {
                ids[k] = add ? Add(name) : -1;
            }
        }

        return ids;
    }
}
