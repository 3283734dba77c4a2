"""The Cluster page on a real 3-node cluster of `zennode` processes: followers listed, digests
agree, and a node killed shows as down on the page of a node that is still up."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from support.cluster import LocalCluster

from zennode.tools import launcher

NODES = PARTITIONS = 3


def test_cluster_page_shows_members_and_a_node_going_down(tmp_path: Path, page: Any) -> None:
    with LocalCluster(tmp_path / "cluster", NODES, PARTITIONS, 3) as cluster:
        cluster.wait_converged()
        page.goto(f"{cluster.urls[1]}/console/#/cluster")
        rows = page.locator("#partitions tbody tr")
        rows.nth(PARTITIONS - 1).wait_for()
        for n in range(PARTITIONS):
            text = rows.nth(n).inner_text()
            assert text.count("follower") == 2 and text.count("leader") == 1, text
            assert "agree" in text, text
        nodes = page.locator("#nodes tbody tr")
        assert nodes.count() == NODES
        assert all("up" in nodes.nth(n).inner_text() for n in range(NODES))
        assert "(this node)" in nodes.nth(0).inner_text()

        launcher.kill_node(cluster.dir, NODES, signal.SIGKILL)
        # the page refreshes itself: node 3 turns down, nothing reloaded by the test
        nodes.filter(has_text=f"#{NODES}").filter(has_text="down").wait_for(timeout=30_000)
        assert "up" in nodes.nth(0).inner_text()
