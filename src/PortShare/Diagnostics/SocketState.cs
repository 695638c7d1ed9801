namespace PortShare.Diagnostics;

/// <summary>A socket's kernel state as sock_diag reports it (the kernel's TCP state numbers; UDP uses two of them).</summary>
public enum SocketState : byte
{
    /// <summary>No state (never reported by the kernel).</summary>
    None = 0,

    /// <summary>TCP: connected. UDP: connected to one remote endpoint.</summary>
    Established = 1,

    /// <summary>TCP: SYN sent.</summary>
    SynSent = 2,

    /// <summary>TCP: SYN received.</summary>
    SynReceived = 3,

    /// <summary>TCP: FIN-WAIT-1.</summary>
    FinWait1 = 4,

    /// <summary>TCP: FIN-WAIT-2.</summary>
    FinWait2 = 5,

    /// <summary>TCP: TIME-WAIT (the 4-tuple stays taken).</summary>
    TimeWait = 6,

    /// <summary>TCP: closed. UDP: bound or unbound but not connected.</summary>
    Close = 7,

    /// <summary>TCP: CLOSE-WAIT.</summary>
    CloseWait = 8,

    /// <summary>TCP: LAST-ACK.</summary>
    LastAck = 9,

    /// <summary>TCP: listening.</summary>
    Listen = 10,

    /// <summary>TCP: CLOSING.</summary>
    Closing = 11,

    /// <summary>TCP: a request socket (SYN received, not yet accepted).</summary>
    NewSynReceived = 12,
}

/// <summary>A set of <see cref="SocketState"/>s, as the <c>idiag_states</c> bit mask of a dump request (bit <c>1 &lt;&lt; state</c>).</summary>
[Flags]
public enum SocketStates : uint
{
    /// <summary>No state.</summary>
    None = 0,

    /// <summary><see cref="SocketState.Established"/>.</summary>
    Established = 1u << 1,

    /// <summary><see cref="SocketState.SynSent"/>.</summary>
    SynSent = 1u << 2,

    /// <summary><see cref="SocketState.SynReceived"/>.</summary>
    SynReceived = 1u << 3,

    /// <summary><see cref="SocketState.FinWait1"/>.</summary>
    FinWait1 = 1u << 4,

    /// <summary><see cref="SocketState.FinWait2"/>.</summary>
    FinWait2 = 1u << 5,

    /// <summary><see cref="SocketState.TimeWait"/>.</summary>
    TimeWait = 1u << 6,

    /// <summary><see cref="SocketState.Close"/>: for UDP, every bound socket that is not connected.</summary>
    Close = 1u << 7,

    /// <summary><see cref="SocketState.CloseWait"/>.</summary>
    CloseWait = 1u << 8,

    /// <summary><see cref="SocketState.LastAck"/>.</summary>
    LastAck = 1u << 9,

    /// <summary><see cref="SocketState.Listen"/>.</summary>
    Listen = 1u << 10,

    /// <summary><see cref="SocketState.Closing"/>.</summary>
    Closing = 1u << 11,

    /// <summary><see cref="SocketState.NewSynReceived"/>.</summary>
    NewSynReceived = 1u << 12,

    /// <summary>Every state a socket holding a local port toward a peer can be in: all but LISTEN and CLOSE.</summary>
    Connected = Established | SynSent | SynReceived | FinWait1 | FinWait2 | TimeWait | CloseWait | LastAck | Closing | NewSynReceived,

    /// <summary>Every state.</summary>
    All = 0x1FFE,
}
