"""`scripts/bench engine` runs end to end and prints a parseable JSON line (no timing asserts)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench"


def run_bench(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first_line = done.stdout.splitlines()[0]
    return json.loads(first_line)


def test_engine_bench_prints_one_json_line() -> None:
    results = run_bench("engine", "--instances", "50")
    assert results["benchmark"] == "engine" and results["instances"] == 50
    for run in ("engine", "node"):
        assert results[run]["instances"] == 50
        assert results[run]["per_second"] > 0 and results[run]["seconds"] > 0
    assert results["node"]["commands_per_batch"] >= 1
    assert "spiff" not in results


def test_engine_bench_on_lmdb_with_cluster_sized_batches() -> None:
    """`--store lmdb --batch 9`: the same run on an LmdbStore; every instance still ends (the
    run checks it) and the setup is echoed in the JSON line."""
    results = run_bench(
        "engine", "--instances", "50", "--no-node", "--store", "lmdb", "--batch", "9"
    )
    assert results["engine_setup"] == {"batch": 9, "store": "lmdb"}
    assert results["engine"]["instances"] == 50 and results["engine"]["per_second"] > 0


@pytest.mark.skipif(
    importlib.util.find_spec("SpiffWorkflow") is None, reason="needs the [bench] extra"
)
def test_engine_bench_against_spiff_reports_the_ratio() -> None:
    results = run_bench("engine", "--instances", "50", "--vs-spiff", "--no-node")
    assert results["spiff"]["instances"] == 50
    ratio = results["engine"]["per_second"] / results["spiff"]["per_second"]
    assert results["engine_vs_spiff"] == pytest.approx(ratio, rel=0.02)
    assert "node" not in results


def test_search_bench_builds_a_partition_and_times_every_query() -> None:
    results = run_bench("search", "--instances", "1200", "--repeats", "10")
    assert results["benchmark"] == "search" and results["instances"] == 1200
    assert results["all"]["first"]["items"] == results["page"]
    assert results["business_key"]["first"]["items"] == 1
    assert results["state_failed"]["first"]["items"] == 2  # the 3rd of every 1000
    assert results["terminated_at_task_worst_case"]["first"]["items"] == 0
    for name, value in results.items():
        if isinstance(value, dict):
            for page in ("first", "deep"):
                assert 0 < value[page]["p50_ms"] <= value[page]["p99_ms"], name


def test_node_bench_runs_both_phases() -> None:
    """One node process, one worker process, half a second per phase: the JSON line parses."""
    results = run_bench("node", "--seconds", "0.5", "--workers", "1", "--clients", "4")
    assert results["benchmark"] == "node"
    assert results["engine_per_second"] > 0  # the machine's calibration, same invocation
    for phase in ("full", "half"):
        numbers = results[phase]
        assert numbers["created"] > 0 and numbers["jobs_pushed"] > 0
        assert numbers["completed_per_second"] > 0
        assert numbers["push_p50_ms"] <= numbers["push_p99_ms"]
    assert results["half"]["rate"] <= results["full"]["completed_per_second"]


def test_cluster_bench_runs_against_three_nodes() -> None:
    """`scripts/cluster`'s launcher, 3 nodes, 2 partitions, R=3: both phases, forwarding seen.

    Two workers for three nodes: the job relay brings every leader's jobs to them."""
    results = run_bench(
        "cluster",
        "--seconds",
        "0.5",
        "--workers",
        "2",
        "--clients",
        "4",
        "--partitions",
        "2",
        "--compare-unsynced",
        "--raft",
        "batch_adapt_max_ms=5",
    )
    assert results["benchmark"] == "cluster" and results["replication"] == 3
    assert results["raft"] == {"batch_adapt_max_ms": 5}  # `--raft` reaches every node
    assert results["engine_per_second"] > 0  # the machine's calibration, same invocation
    # The durable default and the unsynced variant in one run, with their ratio.
    assert results["fsync"] is True and results["fsync_ms"]["fsyncs"] > 0
    assert results["unsynced"]["full"]["created"] > 0
    assert results["durable_vs_unsynced"] > 0
    for phase in ("full", "half"):
        assert results[phase]["created"] > 0 and results[phase]["jobs_pushed"] > 0
    assert results["full"]["forwarded"] > 0  # creates on node 3 (it leads no partition)


def _sample(completed: int, disk: int, rss: int) -> dict:
    node = {"lmdb_file_bytes": disk, "journal_bytes": 0, "snapshot_bytes": 0, "rss_bytes": rss}
    node |= {"rss_anon_bytes": rss // 2, "rss_file_bytes": rss // 2, "rss_shmem_bytes": 0}
    return {"seconds": 60.0, "completed": completed, "nodes": [node, dict(node)]}


def test_soak_summary_compares_the_first_and_last_five_minutes() -> None:
    from zennode.tools.bench.soak import summary

    samples = [_sample(6000, 1000 * i, 10) for i in range(6)]  # minutes 1-6 (disk grows)
    samples += [_sample(5400, 6000, 10) for _ in range(6)]  # minutes 7-12 (disk flat)
    result = summary(samples, sample_s=60.0)
    assert result["first_5min_per_s"] == 100.0 and result["last_5min_per_s"] == 90.0
    assert result["last_vs_first"] == 0.9
    assert result["disk_growth_last_5min_bytes"] == 0 and result["rss_growth_last_5min_bytes"] == 0
    short = summary([_sample(600, 0, 0), _sample(1200, 2, 4)], sample_s=60.0)
    assert short["window_samples"] == 1 and short["disk_growth_last_5min_bytes"] == 4
    # anonymous memory (a leak's kind) and file-backed pages (LMDB's mmap) apart, per node
    assert short["rss_anon_growth_last_5min_bytes"] == 4 and short["rss_file_bytes_end"] == 4
    assert short["rss_per_node"][0] == {
        "node": None,
        "rss_anon_first": 0,
        "rss_file_first": 0,
        "rss_anon_last": 2,
        "rss_file_last": 2,
    }


def test_soak_bench_prints_a_line_per_sample_and_a_summary() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "soak",
            "--minutes",
            "0.25",
            "--sample-s",
            "5",
            "--history-ttl",
            "0",
            "--clients",
            "4",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    samples, last = lines[:-1], lines[-1]
    assert len(samples) == 3 and last["benchmark"] == "soak" and last["samples"] == 3
    for sample in samples:
        assert [n["node"] for n in sample["nodes"]] == [1, 2, 3]
        assert all(n["lmdb_file_bytes"] > 0 and n["rss_bytes"] > 0 for n in sample["nodes"])
        assert all(n["rss_anon_bytes"] > 0 and n["rss_file_bytes"] > 0 for n in sample["nodes"])
    assert sum(s["completed"] for s in samples) > 0
    assert {"first_5min_per_s", "last_5min_per_s", "disk_growth_last_5min_bytes"} <= set(last)


def test_rest_bench_times_the_hot_routes_through_the_app() -> None:
    results = run_bench("rest", "--requests", "200")
    assert results["benchmark"] == "rest" and results["requests"] == 200
    assert results["create_instance_us"] > 0 and results["complete_job_us"] > 0
