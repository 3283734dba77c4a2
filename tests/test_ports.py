"""The one port picker (`zennode.tools.ports`): a port is reserved machine-wide while its owner
holds it, so pickers in different processes never hand out the same port, and a reservation
ends with its owner (release, or the process dying) — nothing stale is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ports import Reservation, reserve_cluster, reserve_node, reserve_port
from support.waits import wait_until

from zennode.config import Ports
from zennode.tools import launcher, ports
from zennode.tools.ports import is_reserved_elsewhere

ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT_S = 30
PICKER = "import zennode.tools.ports as ports\n"


def _child(code: str) -> subprocess.Popen[str]:
    """A Python process running `code` with the picker imported as `ports`."""
    prelude = "import json, time\n"
    return subprocess.Popen(
        [sys.executable, "-c", prelude + PICKER + code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_layouts_are_the_node_and_cluster_port_layouts() -> None:
    node = reserve_node(2)
    assert node.ports == tuple(node.base + o for o in (0, 1, 2, 11, 12))
    cluster = reserve_cluster(3, 1)
    expected = [cluster.base + 100 * i + o for i in range(3) for o in (0, 1, 2, 11)]
    assert list(cluster.ports) == expected
    single = reserve_port()
    assert single.address() == f"127.0.0.1:{single.port}"
    low = ports._ephemeral_low()
    for reservation in (node, cluster, single):
        assert max(reservation.ports) < low  # never in the range outgoing connections use


def test_ports_that_nodes_started_by_hand_bind_are_never_picked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`zennode start` and `scripts/cluster up` without port options bind their default ports
    whenever someone starts them, reserving nothing: a test whose reserved Raft port were one of
    them could lose it between the pick and the bind. The picker never hands them out."""
    defaults = Ports()
    assert {defaults.grpc, defaults.internal, defaults.raft(1), defaults.raft(9)} <= set(
        ports.BY_HAND
    )
    up_layout = {launcher.DEFAULT_BASE_PORT + o for o in ports.cluster_offsets(5, 9)}
    assert up_layout <= set(ports.BY_HAND)
    # A pick range that straddles the start of the band: only the ports below it come out.
    start = ports.BY_HAND.start
    monkeypatch.setattr(ports, "_pick_range", lambda span: (start - 20, start + 20 - span))
    picked = [reserve_port().port for _ in range(5)]
    assert all(start - 20 <= port < start for port in picked), picked


def test_a_reservation_excludes_every_other_taker_until_released() -> None:
    reservation = reserve_port()
    assert is_reserved_elsewhere(reservation.port)  # another lock, even in this process
    reservation.release()
    reservation.release()  # idempotent
    assert not reservation.held and not is_reserved_elsewhere(reservation.port)


def test_a_port_held_by_another_process_is_never_picked_and_is_free_once_it_dies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child = _child("r = ports.reserve_port()\nprint(r.port, flush=True)\ntime.sleep(60)\n")
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        # Only that port is a candidate: the picker must refuse rather than hand it out.
        monkeypatch.setattr(ports, "_pick_range", lambda span: (port, port + 1))
        monkeypatch.setattr(ports, "ATTEMPTS", 20)
        with pytest.raises(RuntimeError, match="no free port layout"):
            ports.reserve_port()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=CHILD_TIMEOUT_S)
    # The kernel dropped the child's lock with the child: nothing stale.
    wait_until(lambda: not is_reserved_elsewhere(port), 5, f"port {port} to be free")
    assert ports.reserve_port().port == port


def test_a_held_port_stays_reserved_when_tmp_is_wiped() -> None:
    """Reservations once were lock files in /tmp/zennode-ports: a /tmp cleaner (or a `rm -rf`)
    removing that directory while ports were held let the next picker lock a new file of the
    same name and hand out a held port. A picker whose /tmp is empty — its own mount namespace
    with a fresh tmpfs on /tmp, so the machine's /tmp is left alone — must still refuse it."""
    held = reserve_port()
    code = (
        f"ports._pick_range = lambda span: ({held.port}, {held.port + 1})\n"
        "ports.ATTEMPTS = 20\n"
        "tmp = os.listdir('/tmp')\n"
        "try:\n"
        "    outcome = ports.reserve_port().port\n"
        "except RuntimeError:\n"
        "    outcome = 'refused'\n"
        "print(json.dumps({'tmp': tmp, 'outcome': outcome}))\n"
    )
    wiped_tmp = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    wiped_tmp += ['mount -t tmpfs zennode-test /tmp && exec "$@"', "sh"]
    result = subprocess.run(
        [*wiped_tmp, sys.executable, "-c", "import json, os\n" + PICKER + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=CHILD_TIMEOUT_S,
    )
    assert result.returncode == 0, f"needs root (unshare, mount): {result.stderr}"
    assert json.loads(result.stdout) == {"tmp": [], "outcome": "refused"}
    assert held.held


def test_concurrent_pickers_in_two_processes_never_share_a_port() -> None:
    """Two processes reserve node layouts at the same time in a range so narrow that pickers
    testing only "free now" would overlap; reservations never do."""
    low = ports._ephemeral_low() - 3_000
    code = (
        f"ports._pick_range = lambda span: ({low}, {low} + 1_000 - span)\n"
        "held = [ports.reserve_node(2) for _ in range(40)]\n"
        "print(json.dumps([p for r in held for p in r.ports]), flush=True)\n"
        "time.sleep(60)\n"
    )
    children = [_child(code) for _ in range(2)]
    try:
        taken = [set(json.loads(child.stdout.readline())) for child in children if child.stdout]
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=CHILD_TIMEOUT_S)
    assert [len(t) for t in taken] == [200, 200]  # 40 layouts of 5 ports each
    assert taken[0].isdisjoint(taken[1])


# The per-test release (support.ports.release_test_ports, autouse) against a module fixture.

MADE_IN_A_TEST: list[Reservation] = []


@pytest.fixture(scope="module")
def module_port() -> Iterator[Reservation]:
    reservation = reserve_port()
    yield reservation
    reservation.release()


def test_a_test_keeps_what_it_reserved_while_it_runs(module_port: Reservation) -> None:
    MADE_IN_A_TEST.append(reserve_port())
    assert MADE_IN_A_TEST[0].held and module_port.held


def test_what_a_test_reserved_is_released_after_it_but_a_module_fixture_keeps_its_own(
    module_port: Reservation,
) -> None:
    assert MADE_IN_A_TEST, "runs after the test above (file order)"
    assert not MADE_IN_A_TEST[0].held
    assert module_port.held
