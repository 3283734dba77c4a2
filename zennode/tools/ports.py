"""Free TCP ports for the nodes and Raft replicas that tests and tools start, reserved
machine-wide so that two pickers never hand out the same port.

"Free now" is not enough on a machine where several test runs and benchmarks start servers at
once. A port found free is bound only later — a node process first spends a second importing
Python; a test picks all three Raft addresses of a group and starts the third replica seconds
after the first two — and in between another process that found the same port free may bind
it; one of the two then fails with "address in use". So every port handed out here is
*reserved*: this process holds a Unix socket bound to the abstract name `zennode-port-<port>`
until it releases the reservation or exits (the kernel unbinds it with the process, so a crash
leaves nothing stale). Every picker on the machine binds the same names, and the kernel lets
only one socket hold a name, so no two reserve one port; a port that some other program uses
is skipped by a bind test. Releasing is for the owner of the servers, once they are stopped: a
node that restarts on its own ports keeps them reserved while it is down.

Why abstract sockets and not lock files: a name in the abstract namespace is no file, so
nothing can delete it while it is held. Reservations were `flock`s on files in
/tmp/zennode-ports; removing that directory (a /tmp cleaner, a `rm -rf` by hand) while ports
were held let the next picker create a new file of the same name, lock it and hand out a held
port. The abstract namespace belongs to the network namespace, as TCP ports do: reservations
are shared exactly by the processes that share a port space.

Ports come from below the kernel's ephemeral range: a port in that range may be handed to an
outgoing connection's local end (a Raft peer dialling a replica that is not up yet) and taken
before the server binds it. And never from the ports zennode binds when started by hand with
its defaults (`BY_HAND`): such a node reserves nothing and takes its ports whenever someone
starts it, also between a reservation and its bind.
"""

from __future__ import annotations

import errno
import random
import socket
import threading
from collections.abc import Sequence

from zennode.config import PORT_OFFSET_GRPC, PORT_OFFSET_INTERNAL, PORT_OFFSET_RAFT_BASE
from zennode.tools.launcher import DEFAULT_BASE_PORT, NODE_PORT_STRIDE

NAME_PREFIX = "zennode-port-"  # abstract Unix socket name of a port's reservation
SPAN = 12_000  # how far below the ephemeral range the picks go
ATTEMPTS = 500
# Bound without any reservation by nodes started by hand on the shared machine: `zennode
# start` without --port-base (config.Ports: 26500-26502, Raft 26511...) and `scripts/cluster
# up` without --base-port (launcher.DEFAULT_BASE_PORT, a node every NODE_PORT_STRIDE ports;
# room for 10 nodes). Both lie inside the pick range, so they are never picked.
BY_HAND = range(DEFAULT_BASE_PORT, DEFAULT_BASE_PORT + 10 * NODE_PORT_STRIDE)


class Reservation:
    """Ports reserved by this process until `release()` (idempotent) or exit.

    `base` is the first port of the layout (a node's `--port-base`, a cluster's base port);
    `ports` every reserved port; `port` the only one of a single-port reservation.
    """

    def __init__(self, base: int, ports: tuple[int, ...], holds: list[socket.socket]) -> None:
        self.base = base
        self.ports = ports
        self._holds = holds

    @property
    def port(self) -> int:
        assert len(self.ports) == 1, "a layout has several ports: use .base or .ports"
        return self.ports[0]

    def address(self, host: str = "127.0.0.1") -> str:
        """ "host:port" of a single-port reservation (a Raft replica's address)."""
        return f"{host}:{self.port}"

    @property
    def held(self) -> bool:
        return bool(self._holds)

    def release(self) -> None:
        with _LOCK:
            holds, self._holds = self._holds, []
            _HELD.discard(self)
        _close(holds)  # closing a socket frees its name

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"Reservation(base={self.base}, ports={list(self.ports)}, {state})"


_LOCK = threading.Lock()
_HELD: set[Reservation] = set()  # live reservations of this process (kept referenced)


def node_offsets(partitions: int) -> list[int]:
    """Offsets from a node's `--port-base`: HTTP, public gRPC, internal gRPC, one Raft port per
    partition (the layout `zennode start --port-base` uses)."""
    raft = [PORT_OFFSET_RAFT_BASE + p for p in range(1, partitions + 1)]
    return [0, PORT_OFFSET_GRPC, PORT_OFFSET_INTERNAL, *raft]


def cluster_offsets(nodes: int, partitions: int) -> list[int]:
    """Offsets from a local cluster's base port: node i's layout at 100 (i - 1)."""
    return [NODE_PORT_STRIDE * i + o for i in range(nodes) for o in node_offsets(partitions)]


def reserve_port(host: str = "127.0.0.1") -> Reservation:
    """One port (a Raft replica, a gRPC server a test starts)."""
    return reserve([0], host)


def reserve_node(partitions: int, host: str = "127.0.0.1") -> Reservation:
    """A node's whole `--port-base` layout; `.base` is the port base."""
    return reserve(node_offsets(partitions), host)


def reserve_cluster(nodes: int, partitions: int, host: str = "127.0.0.1") -> Reservation:
    """Every port of a local cluster (`zennode.tools.launcher` layout); `.base` is its base."""
    return reserve(cluster_offsets(nodes, partitions), host)


def reserve(offsets: Sequence[int], host: str = "127.0.0.1") -> Reservation:
    """A base port such that base + each offset is reserved by this process and bindable now."""
    if not offsets or min(offsets) != 0:
        raise ValueError("offsets start at 0")
    low, high = _pick_range(max(offsets))
    rng = random.Random()
    for _ in range(ATTEMPTS):
        base = rng.randrange(low, high)
        ports = tuple(base + offset for offset in offsets)
        if any(port in BY_HAND for port in ports):
            continue
        holds = _hold_all(ports)
        if holds is None:
            continue
        if all(_bindable(host, port) for port in ports):
            reservation = Reservation(base, ports, holds)
            with _LOCK:
                _HELD.add(reservation)
            return reservation
        _close(holds)
    raise RuntimeError(f"no free port layout {list(offsets)} on {host} after {ATTEMPTS} tries")


def held_reservations() -> set[Reservation]:
    """This process's reservations not yet released (a test fixture releases what a test left)."""
    with _LOCK:
        return set(_HELD)


def is_reserved_elsewhere(port: int) -> bool:
    """Whether another process (or another reservation of this one) holds `port` (diagnostics,
    tests of this module)."""
    holds = _hold_all((port,))
    if holds is None:
        return True
    _close(holds)
    return False


def _pick_range(span: int) -> tuple[int, int]:
    ephemeral_low = _ephemeral_low()
    low = max(1024, ephemeral_low - SPAN)
    high = ephemeral_low - span
    if high <= low:
        raise RuntimeError(f"a layout {span} ports wide does not fit below {ephemeral_low}")
    return low, high


def _hold_all(ports: Sequence[int]) -> list[socket.socket] | None:
    """Every port's reservation name bound by a socket of this process, or None (and none
    held) when another socket holds one of them."""
    holds: list[socket.socket] = []
    for port in ports:
        # Not inherited by child processes (Python's default): a node process started by the
        # owner must not keep the owner's reservation alive after the owner released it.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(f"\0{NAME_PREFIX}{port}")
        except OSError as exc:
            sock.close()
            _close(holds)
            if exc.errno == errno.EADDRINUSE:
                return None
            raise
        holds.append(sock)
    return holds


def _close(holds: list[socket.socket]) -> None:
    for sock in holds:
        sock.close()


def _bindable(host: str, port: int) -> bool:
    """Whether a server could bind `port` now (SO_REUSEADDR, as the node's servers set it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
