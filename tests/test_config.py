"""Config: strict YAML parsing, the embedded default, overrides and cluster checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from zennode.config import DEFAULT_YAML, Ports, default_config, load_config, parse_config
from zennode.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_embedded_default_is_one_local_node() -> None:
    config = default_config()
    assert config.partitions == 1
    assert config.replication_factor == 1
    assert config.data_dir == "./data"
    assert config.host == "127.0.0.1"
    assert config.secret is None
    assert config.local_partition_ids == [1]


def test_single_yaml_is_the_embedded_default_written_out() -> None:
    path = REPO / "cluster-configs" / "single.yaml"
    assert path.read_text() == DEFAULT_YAML
    assert load_config(path) == default_config()


def test_empty_file_means_all_defaults() -> None:
    assert parse_config("") == default_config()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("partitons: 2", "partitons: unknown key"),
        ("limits: {page_size: 5}", "limits.page_size: unknown key"),
        ("members: [{id: 1, hots: x}]", "members[0].hots: unknown key"),
        ("members: [{id: 1, ports: {htp: 1}}]", "members[0].ports.htp: unknown key"),
    ],
)
def test_unknown_key_is_named(text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=r"^" + key.replace("[", r"\[").replace("]", r"\]")):
        parse_config(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("partitions: two", "partitions: expected an integer, got a string"),
        ("partitions: true", "partitions: expected an integer, got a boolean"),
        ("data_dir: 5", "data_dir: expected a string, got int"),
        ("limits: 3", "limits: expected a mapping, got int"),
        ("members: {id: 1}", "members: expected a list, got a mapping"),
        ("raft: {min_timeout_s: fast}", "raft.min_timeout_s: expected a number"),
        ("members: [{id: 1, ports: {http: '80'}}]", "members[0].ports.http: expected an integer"),
    ],
)
def test_wrong_type_is_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.message.startswith(message)


def test_invalid_yaml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("partitions: [1,", source="x.yaml")


def test_port_base_maps_every_port() -> None:
    config = parse_config("partitions: 3").with_overrides(port_base=30000)
    assert config.ports == Ports(http=30000, grpc=30001, internal=30002, raft_base=30010)
    assert [config.ports.raft(p) for p in config.partition_ids] == [30011, 30012, 30013]


def test_port_base_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="--port-base"):
        default_config().with_overrides(port_base=65530)


def test_overrides_replace_data_dir_and_log_format() -> None:
    config = default_config().with_overrides(data_dir="/tmp/x", log_format="json")
    assert config.data_dir == "/tmp/x"
    assert config.log.format == "json"


MULTI = """
node_id: 2
partitions: 3
replication_factor: 2
members:
  - {id: 1, host: 127.0.0.1, ports: {http: 9000, grpc: 9001, internal: 9002, raft_base: 9010}}
  - {id: 2, host: 127.0.0.1, ports: {http: 9100, grpc: 9101, internal: 9102, raft_base: 9110}}
  - {id: 3, host: 127.0.0.1, ports: {http: 9200, grpc: 9201, internal: 9202, raft_base: 9210}}
"""


def test_multi_node_without_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="^secret: a cluster with more than one member"):
        parse_config(MULTI)


def test_multi_node_placement_is_deterministic() -> None:
    config = parse_config(MULTI + "secret: s3cret\n")
    assert config.ports.http == 9100
    assert [config.replicas_of(p) for p in (1, 2, 3)] == [[1, 2], [2, 3], [3, 1]]
    assert config.local_partition_ids == [1, 2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("replication_factor: 2", "replication_factor: 2 must be between 1"),
        ("node_id: 7", "node_id: 7 is not one of the members"),
        ("partitions: 0", "partitions: 0 is outside"),
        ("limits: {page_size_max: 0}", "limits.page_size_max: must be positive"),
        ("raft: {min_timeout_s: 0.2}", "raft: need 0.35 < min_timeout_s"),
        ("raft: {batch_adapt_max_ms: -1}", "raft.batch_adapt_max_ms: must be between 0"),
        ("raft: {batch_adapt_max_ms: 500}", "raft.batch_adapt_max_ms: must be between 0"),
        ("raft: {batch_adapt_fraction: 0}", "raft.batch_adapt_fraction: must be in (0, 1]"),
        ("log: {level: LOUD}", "log.level"),
        ("members: [{id: 1, ports: {http: 70000}}]", "members[id=1].ports.http: port 70000"),
        ("members: [{id: 1, ports: {http: 26500}}]", "members[id=1].ports: ports overlap"),
    ],
)
def test_cross_field_checks(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.message.startswith(message)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_retention_history_ttl_accepts_durations_and_zero_and_refuses_the_rest() -> None:
    assert default_config().retention.history_ttl_ms == 7 * 86_400_000
    for text, ms in (("0", 0), ("30d", 30 * 86_400_000), ("PT1H", 3_600_000)):
        assert parse_config(f"retention:\n  history_ttl: {text}\n").retention.history_ttl_ms == ms
    for bad in ("5", "soon", "-1d", "[]"):
        with pytest.raises(ConfigError, match="retention.history_ttl"):
            parse_config(f"retention:\n  history_ttl: {bad}\n")
    with pytest.raises(ConfigError, match="retention"):
        parse_config("retention:\n  purge_chunk: 0\n")
