using System.Runtime.CompilerServices;

namespace PortShare.Planning;

/// <summary>
/// The re-planner's free runs ordered by (capacity, start), for best fit: each run a key <c>capacity &lt;&lt; 32 | start</c>
/// (starts are distinct, runs being disjoint), kept in sorted blocks of at most <see cref="BlockSize"/> keys. Replaces a
/// <c>SortedSet</c> of tuples, whose node per run and generic comparer dominated a fleet re-plan; here a look-up is two
/// binary searches and an insert or removal moves at most one block's keys.
/// </summary>
internal sealed class RunSet
{
    private const int BlockSize = 256;

    private long[][] _blocks;
    private int[] _counts;
    private int _blockCount;

    /// <summary>The set of <paramref name="count"/> distinct keys from <paramref name="keys"/> (sorted here, in place).</summary>
    public RunSet(long[] keys, int count)
    {
        RadixSort.Sort(keys, count);
        var blocks = Math.Max(1, (count + (BlockSize / 2) - 1) / (BlockSize / 2));
        _blocks = new long[blocks][];
        _counts = new int[blocks];
        for (var i = 0; i < count; i += BlockSize / 2)
        {
            var n = Math.Min(BlockSize / 2, count - i);
            var block = new long[BlockSize];
            Array.Copy(keys, i, block, 0, n);
            _blocks[_blockCount] = block;
            _counts[_blockCount++] = n;
        }

        Count = count;
    }

    public int Count { get; private set; }

    public static long Key(long capacity, int start) => (capacity << 32) | (uint)start;

    public static long CapacityOf(long key) => key >> 32;

    public static int StartOf(long key) => (int)(key & 0xFFFF_FFFF);

    /// <summary>The largest key; the set must not be empty.</summary>
    public long Max => _blocks[_blockCount - 1][_counts[_blockCount - 1] - 1];

    /// <summary>The smallest key ≥ <paramref name="key"/>; one must exist (<see cref="Max"/> ≥ <paramref name="key"/>).</summary>
    public long Ceiling(long key)
    {
        var b = BlockOf(key);
        return _blocks[b][IndexIn(b, key)];
    }

    public void Remove(long key)
    {
        var b = BlockOf(key);
        var i = IndexIn(b, key);
        var block = _blocks[b];
        var n = _counts[b];
        Array.Copy(block, i + 1, block, i, n - i - 1);
        _counts[b] = n - 1;
        Count--;
        if (n == 1)
        {
            Array.Copy(_blocks, b + 1, _blocks, b, _blockCount - b - 1);
            Array.Copy(_counts, b + 1, _counts, b, _blockCount - b - 1);
            _blockCount--;
        }
    }

    public void Add(long key)
    {
        if (_blockCount == 0)
        {
            _blocks[0] = new long[BlockSize];
            _blocks[0][0] = key;
            _counts[0] = 1;
            _blockCount = 1;
            Count = 1;
            return;
        }

        var b = Math.Min(BlockOf(key), _blockCount - 1);
        var block = _blocks[b];
        var n = _counts[b];
        var i = IndexIn(b, key);
        if (n == BlockSize)
        {
            // Split: the upper half moves to a new block after this one.
            if (_blockCount == _blocks.Length)
            {
                Array.Resize(ref _blocks, _blockCount * 2);
                Array.Resize(ref _counts, _blockCount * 2);
            }

            Array.Copy(_blocks, b + 1, _blocks, b + 2, _blockCount - b - 1);
            Array.Copy(_counts, b + 1, _counts, b + 2, _blockCount - b - 1);
            var upper = new long[BlockSize];
            Array.Copy(block, BlockSize / 2, upper, 0, BlockSize / 2);
            _blocks[b + 1] = upper;
            _counts[b + 1] = BlockSize / 2;
            _counts[b] = n = BlockSize / 2;
            _blockCount++;
            if (i > n)
            {
                b++;
                block = upper;
                i -= n;
            }
        }

        Array.Copy(block, i, block, i + 1, n - i);
        block[i] = key;
        _counts[b] = n + 1;
        Count++;
    }

    // The first block whose last key is ≥ key, or _blockCount when there is none.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int BlockOf(long key)
    {
        int lo = 0, hi = _blockCount;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_blocks[mid][_counts[mid] - 1] >= key)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    // The first index in block b whose key is ≥ key (the block's count when there is none).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int IndexIn(int b, long key)
    {
        var block = _blocks[b];
        int lo = 0, hi = _counts[b];
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (block[mid] >= key)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }
}
