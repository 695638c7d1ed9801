using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace PortShare.Planning;

/// <summary>
/// Sorts non-negative integer keys (ports, unit indexes, the re-planner's run keys), with items alongside: least
/// significant byte first, stable, skipping the bytes every key shares (a port's upper two). Linear, where the planner's
/// sorts of a fleet's 10,000 slices per egress IP were not: <c>Array.Sort(keys, items)</c> over primitive keys runs a
/// sort helper the runtime makes by reflection, so no ReadyToRun image holds it precompiled and a command lives its
/// fraction of a second in its unoptimized first compilation.
/// </summary>
internal static class RadixSort
{
    // Below this, insertion sort: a radix pass's 256 counters cost more than sorting a few keys outright.
    private const int Small = 32;

    /// <summary>Sorts <c>keys[0..count)</c> ascending and <c>items[0..count)</c> with them; equal keys keep their order.</summary>
    public static void Sort<TKey, TItem>(TKey[] keys, TItem[] items, int count)
        where TKey : struct, IBinaryInteger<TKey>
    {
        ArgumentNullException.ThrowIfNull(items);
        Run(keys, items, count);
    }

    /// <summary>Sorts <c>keys[0..count)</c> ascending.</summary>
    public static void Sort<TKey>(TKey[] keys, int count)
        where TKey : struct, IBinaryInteger<TKey> => Run<TKey, byte>(keys, null, count);

    private static void Run<TKey, TItem>(TKey[] keys, TItem[]? items, int count)
        where TKey : struct, IBinaryInteger<TKey>
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, keys.Length);
        if (count <= Small)
        {
            Insertion(keys, items, count);
            return;
        }

        var keyBuffer = ArrayPool<TKey>.Shared.Rent(count);
        var itemBuffer = items is null ? null : ArrayPool<TItem>.Shared.Rent(count);
        try
        {
            var (fromKeys, toKeys, fromItems, toItems) = (keys, keyBuffer, items, itemBuffer);
            Span<int> start = stackalloc int[256];
            var bits = Unsafe.SizeOf<TKey>() * 8;
            for (var shift = 0; shift < bits; shift += 8)
            {
                start.Clear();
                for (var i = 0; i < count; i++)
                {
                    Debug.Assert(fromKeys[i] >= TKey.Zero, "keys are non-negative");
                    start[Digit(fromKeys[i], shift)]++;
                }

                if (start[Digit(fromKeys[0], shift)] == count)
                {
                    continue; // every key has this byte: the pass would move nothing
                }

                for (int d = 0, sum = 0; d < 256; d++)
                {
                    (start[d], sum) = (sum, sum + start[d]);
                }

                for (var i = 0; i < count; i++)
                {
                    var at = start[Digit(fromKeys[i], shift)]++;
                    toKeys[at] = fromKeys[i];
                    if (fromItems is not null)
                    {
                        toItems![at] = fromItems[i];
                    }
                }

                (fromKeys, toKeys, fromItems, toItems) = (toKeys, fromKeys, toItems, fromItems);
            }

            if (!ReferenceEquals(fromKeys, keys))
            {
                Array.Copy(fromKeys, keys, count);
                if (items is not null)
                {
                    Array.Copy(fromItems!, items, count);
                }
            }
        }
        finally
        {
            ArrayPool<TKey>.Shared.Return(keyBuffer);
            if (itemBuffer is not null)
            {
                ArrayPool<TItem>.Shared.Return(itemBuffer, clearArray: RuntimeHelpers.IsReferenceOrContainsReferences<TItem>());
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Digit<TKey>(TKey key, int shift)
        where TKey : struct, IBinaryInteger<TKey> => int.CreateTruncating(key >>> shift) & 0xFF;

    private static void Insertion<TKey, TItem>(TKey[] keys, TItem[]? items, int count)
        where TKey : struct, IBinaryInteger<TKey>
    {
        for (var i = 1; i < count; i++)
        {
            var key = keys[i];
            var item = items is null ? default : items[i];
            var j = i - 1;
            for (; j >= 0 && keys[j] > key; j--)
            {
                keys[j + 1] = keys[j];
                if (items is not null)
                {
                    items[j + 1] = items[j];
                }
            }

            keys[j + 1] = key;
            if (items is not null)
            {
                items[j + 1] = item!;
            }
        }
    }
}
