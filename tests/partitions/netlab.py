"""A small network in Linux network namespaces, and the faults the partition suite injects.

Layout (everything inside namespaces this module creates; the root namespace gets no device,
address or route, so nothing here can clash with the host's network, and two runs do not
see each other):

    <prefix>-hub   a bridge `br0` with the control address .254 (the test process enters this
                   namespace to reach every member) and the transparent delay proxy
    <prefix>-n1..  one namespace per node (address .1, .2, ...), veth `eth0` to the bridge
    <prefix>-ca..  client namespaces (addresses from .21), veth `eth0` to the bridge

The prefix is `znp<pid of the test process>`, so a crashed run's namespaces are recognised by
the next one (`remove_leftovers`) and never confused with a live run's.

Faults, all on a member's `eth0` (a `clsact` qdisc; a dropped packet is redirected to an `ifb`
device that is kept down, which the kernel drops — this kernel has no netem and no gact):
- `cut(a, b)`: every packet between two groups of members, both directions, at both ends
  (u32 filters on the peer's address, egress and ingress);
- `lose(members, percent)`: each packet a member sends is dropped with that probability (a
  classic-BPF filter on `ld rand`);
- `through_proxy(members)`: routes between those members go via the hub, where policy routing
  delivers them to the transparent proxy (`proxy.py`), which adds the delay;
- `heal()`: removes all of it.

Threads of the test process enter a namespace with `entered(name)` (setns(2) applies to the
calling thread only; sockets keep the namespace they were created in).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

SUBNET = "10.213.7"  # inside the lab's namespaces only
HUB_HOST = f"{SUBNET}.254"
NODE_HOST_BASE = 0  # node i has SUBNET.i
CLIENT_HOST_BASE = 20  # client j (1-based) has SUBNET.(20 + j)
PREFIX = "znp"
PROXY_TABLE = 100  # hub: routing table that turns proxied packets into local deliveries
LOSS_PRIO = 20
CUT_PRIO = 10
COMMAND_TIMEOUT_S = 10.0
_CLONE_NEWNET = 0x40000000
_NETNS_DIR = "/run/netns"
_NAME = re.compile(rf"^{PREFIX}(\d+)-")


class LabError(RuntimeError):
    """The lab cannot be built here (not root, no netns/veth/bridge/ifb/clsact support)."""


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip`/`tc` (bounded); a failure raises LabError with the command and its stderr."""
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(args)}: {exc}") from exc
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def entered(netns: str) -> Iterator[None]:
    """Run the block (this thread only) inside network namespace `netns`, then come back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"{_NETNS_DIR}/{netns}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def _namespaces() -> list[str]:
    done = run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete_namespace(name: str) -> None:
    """Kill what still runs inside (only processes in a namespace of ours), then delete it."""
    for _attempt in range(3):
        pids = run("ip", "netns", "pids", name, check=False).stdout.split()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.2)
    run("ip", "netns", "delete", name, check=False)


def remove_leftovers() -> list[str]:
    """Delete the namespaces of earlier runs whose test process is gone (a crash, SIGKILL)."""
    removed = []
    for name in _namespaces():
        match = _NAME.match(name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            _delete_namespace(name)
            removed.append(name)
    return removed


@dataclass
class Member:
    role: str  # "n1", "ca", ...
    netns: str
    host: str


@dataclass
class Lab:
    """The namespaces of one run; `build()` creates them, `destroy()` removes them all."""

    nodes: int
    clients: list[str] = field(default_factory=lambda: ["ca", "cb"])
    prefix: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    members: dict[str, Member] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _built: bool = False

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    def node(self, node_id: int) -> Member:
        return self.members[f"n{node_id}"]

    def client(self, role: str) -> Member:
        return self.members[role]

    def node_hosts(self) -> dict[int, str]:
        return {i: self.node(i).host for i in range(1, self.nodes + 1)}

    def node_prefixes(self) -> dict[int, list[str]]:
        return {i: ["ip", "netns", "exec", self.node(i).netns] for i in range(1, self.nodes + 1)}

    # ------------------------------------------------------------ building

    def build(self) -> Lab:
        if os.geteuid() != 0:
            raise LabError("the partition suite needs root (network namespaces)")
        atexit.register(self.destroy)  # also after Ctrl-C, when pytest unwinds
        self._built = True
        roles = [(f"n{i}", f"{SUBNET}.{NODE_HOST_BASE + i}") for i in range(1, self.nodes + 1)]
        roles += [(c, f"{SUBNET}.{CLIENT_HOST_BASE + j}") for j, c in enumerate(self.clients, 1)]
        run("ip", "netns", "add", self.hub)
        hub = ("ip", "-n", self.hub)
        run(*hub, "link", "set", "lo", "up")
        run(*hub, "link", "add", "br0", "type", "bridge")
        run(*hub, "addr", "add", f"{HUB_HOST}/24", "dev", "br0")
        run(*hub, "link", "set", "br0", "up")
        # Packets the members route via the hub (`through_proxy`) are delivered locally to the
        # transparent proxy, whatever their destination address. ARP must still only answer
        # for the hub's own address, or the hub would capture the members' direct traffic.
        for conf in ("all", "br0"):
            run(
                "ip",
                "netns",
                "exec",
                self.hub,
                "sysctl",
                "-qw",
                f"net.ipv4.conf.{conf}.arp_ignore=1",
            )
        run(*hub, "rule", "add", "iif", "br0", "lookup", str(PROXY_TABLE), "pref", "100")
        run(*hub, "route", "add", "local", f"{SUBNET}.0/24", "dev", "lo", "table", str(PROXY_TABLE))
        for role, host in roles:
            self._add_member(role, host)
        return self

    def _add_member(self, role: str, host: str) -> None:
        netns = f"{self.prefix}-{role}"
        run("ip", "netns", "add", netns)
        self.members[role] = Member(role, netns, host)
        ns = ("ip", "-n", netns)
        run(*ns, "link", "set", "lo", "up")
        run(
            "ip", "-n", self.hub, "link", "add", f"v{role}", "type", "veth",
            "peer", "name", "eth0", "netns", netns,
        )  # fmt: skip
        run("ip", "-n", self.hub, "link", "set", f"v{role}", "master", "br0", "up")
        run(*ns, "addr", "add", f"{host}/24", "dev", "eth0")
        run(*ns, "link", "set", "eth0", "up")
        run(*ns, "link", "add", "drop0", "type", "ifb")  # kept down: what reaches it is dropped
        run("tc", "-n", netns, "qdisc", "add", "dev", "eth0", "clsact")

    def destroy(self) -> None:
        """Remove every namespace of this run (and the devices in them); safe to call twice."""
        with self._lock:
            if not self._built:
                return
            self._built = False
        for name in _namespaces():
            if name.startswith(f"{self.prefix}-"):
                _delete_namespace(name)
        self.members.clear()

    # -------------------------------------------------------------- faults

    def _drop(self, member: Member, direction: str, prio: int, *match: str) -> None:
        run(
            "tc", "-n", member.netns, "filter", "add", "dev", "eth0", direction, "prio", str(prio),
            *match, "action", "mirred", "egress", "redirect", "dev", "drop0",
        )  # fmt: skip

    def cut(self, side_a: Iterable[str], side_b: Iterable[str]) -> None:
        """No packet between any member of `side_a` and any of `side_b` (roles), either way."""
        a, b = list(side_a), list(side_b)
        for x, y in [(x, y) for x in a for y in b] + [(y, x) for x in a for y in b]:
            me, peer = self.members[x], self.members[y]
            u32 = ("protocol", "ip", "u32", "match", "ip")
            self._drop(me, "egress", CUT_PRIO, *u32, "dst", f"{peer.host}/32")
            self._drop(me, "ingress", CUT_PRIO, *u32, "src", f"{peer.host}/32")

    def isolate(self, role: str, keep: Iterable[str] = ()) -> None:
        """Cut `role` off from every other member except `keep` (e.g. a client)."""
        others = [r for r in self.members if r != role and r not in set(keep)]
        self.cut([role], others)

    def lose(self, roles: Iterable[str], percent: float) -> None:
        """Each packet these members send is dropped with probability `percent` / 100."""
        threshold = int((1 << 32) * percent / 100)
        # ld rand (SKF_AD_OFF + SKF_AD_RANDOM); below the threshold: match (-1), else no match
        bytecode = f"4,32 0 0 4294963256,53 1 0 {threshold},6 0 0 4294967295,6 0 0 0"
        for role in roles:
            me = self.members[role]
            self._drop(me, "egress", LOSS_PRIO, "protocol", "all", "bpf", "bytecode", bytecode)

    def through_proxy(self, roles: Iterable[str]) -> None:
        """Traffic between these members goes through the hub's proxy (both ways)."""
        chosen = [self.members[r] for r in roles]
        for me in chosen:
            for peer in chosen:
                if peer is not me:
                    run("ip", "-n", me.netns, "route", "replace", f"{peer.host}/32",
                        "via", HUB_HOST)  # fmt: skip

    def heal(self) -> None:
        """Remove every filter and proxy route: the network is whole again."""
        for me in self.members.values():
            run("tc", "-n", me.netns, "qdisc", "del", "dev", "eth0", "clsact", check=False)
            run("tc", "-n", me.netns, "qdisc", "add", "dev", "eth0", "clsact")
            for peer in self.members.values():
                if peer is not me:
                    run("ip", "-n", me.netns, "route", "del", f"{peer.host}/32", check=False)

    def dropped_packets(self) -> int:
        """Packets the filters dropped since they were set (`heal` resets the count): a fault
        that dropped nothing did not happen."""
        total = 0
        for me in self.members.values():
            for direction in ("ingress", "egress"):
                out = run(
                    "tc", "-n", me.netns, "-s", "-j", "filter", "show", "dev", "eth0", direction,
                    check=False,
                ).stdout  # fmt: skip
                for entry in json.loads(out or "[]"):
                    for action in entry.get("options", {}).get("actions", []):
                        total += int(action.get("stats", {}).get("packets", 0))
        return total
