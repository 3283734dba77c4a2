"""The job manager's choice of worker (`zennode.jobs.choice`): local workers first, round robin
within each group, remote workers whenever no local one has room."""

from __future__ import annotations

from zennode.jobs.choice import RoundRobin, next_worker

WORKERS = ["local-a", "remote-x", "local-b", "remote-y"]


def picks(rooms: dict[str, int], count: int, cursor: RoundRobin | None = None) -> list[str | None]:
    """`count` choices in a row; each takes one slot of `rooms` (worker -> free slots)."""
    cursor = cursor or RoundRobin()
    chosen: list[str | None] = []
    for _ in range(count):
        worker = next_worker(
            WORKERS,
            cursor,
            has_room=lambda w: rooms[w] > 0,
            is_local=lambda w: w.startswith("local"),
        )
        if worker is not None:
            rooms[worker] -= 1
        chosen.append(worker)
    return chosen


def test_local_workers_with_room_get_every_job_round_robin() -> None:
    rooms = {"local-a": 3, "local-b": 3, "remote-x": 3, "remote-y": 3}
    assert picks(rooms, 6) == ["local-a", "local-b"] * 3


def test_remote_workers_get_the_jobs_local_ones_have_no_room_for_round_robin() -> None:
    rooms = {"local-a": 1, "local-b": 0, "remote-x": 2, "remote-y": 2}
    assert picks(rooms, 6) == ["local-a", "remote-x", "remote-y", "remote-x", "remote-y", None]


def test_a_local_worker_with_room_again_is_preferred_at_once() -> None:
    rooms = {"local-a": 0, "local-b": 0, "remote-x": 5, "remote-y": 5}
    cursor = RoundRobin()
    assert picks(rooms, 2, cursor) == ["remote-x", "remote-y"]
    rooms["local-b"] = 1  # a completion freed a local slot
    assert picks(rooms, 2, cursor) == ["local-b", "remote-x"]


def test_local_picks_do_not_skew_the_remote_rotation() -> None:
    rooms = {"local-a": 0, "local-b": 0, "remote-x": 9, "remote-y": 9}
    cursor = RoundRobin()
    assert picks(rooms, 1, cursor) == ["remote-x"]
    rooms["local-a"] = 2
    assert picks(rooms, 2, cursor) == ["local-a", "local-a"]
    assert picks(rooms, 2, cursor) == ["remote-y", "remote-x"]  # continues after remote-x


def test_no_worker_with_room_means_none_and_the_cursor_stays() -> None:
    rooms = dict.fromkeys(WORKERS, 0)
    cursor = RoundRobin(local_next=2, remote_next=3)
    assert picks(rooms, 1, cursor) == [None]
    assert cursor == RoundRobin(local_next=2, remote_next=3)


def test_the_cursor_is_kept_inside_a_list_that_shrank() -> None:
    cursor = RoundRobin(local_next=3, remote_next=1)
    cursor.clamp(2)
    assert cursor == RoundRobin(local_next=0, remote_next=1)
