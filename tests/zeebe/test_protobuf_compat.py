"""pyzeebe's generated gateway code and ours must load into one process, on one protobuf.

pyzeebe 4.7 needs protobuf < 7 and our checked-in code checks the runtime at import, so the
code generator (grpcio-tools), the runtime pin in pyproject.toml and the checked-in code must
agree. tests/test_proto_fresh.py checks the code matches the .proto files; this checks the
versions line up, so a regeneration with a too-new grpcio-tools fails here, not at start-up.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import google.protobuf
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
GENERATED = sorted((ROOT / "zennode").glob("**/proto/*_pb2.py"))  # every package's gencode


def _pin(name: str, group: str | None = None) -> SpecifierSet:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] if group is None else project["optional-dependencies"][group]
    for dep in deps:
        match = re.match(rf"^{re.escape(name)}\s*([<>=!~].*)$", dep)
        if match:
            return SpecifierSet(match.group(1).replace(" ", ""))
    raise AssertionError(f"{name} is not pinned in pyproject.toml")


def test_our_gencode_runs_on_the_pinned_protobuf() -> None:
    runtime = Version(google.protobuf.__version__)
    pinned = _pin("protobuf")
    assert runtime in pinned
    assert len(GENERATED) >= 2
    for path in GENERATED:
        found = re.search(r"^# Protobuf Python Version: (\S+)$", path.read_text(), re.M)
        assert found, f"{path.name} does not say which protobuf generated it"
        generated = Version(found.group(1))
        # The runtime check: same major, runtime >= gencode; the pin's floor must cover it.
        assert generated.major == runtime.major and generated <= runtime, path.name
        assert all(Version(s.version) >= generated for s in pinned if s.operator == ">=")


def test_pyzeebe_and_zennode_services_share_one_descriptor_pool() -> None:
    from google.protobuf import descriptor_pool
    from pyzeebe.proto import gateway_pb2  # noqa: F401 - registers gateway_protocol

    from zennode.api import zeebe  # noqa: F401 - imports pyzeebe's code beside ours
    from zennode.api.proto import zenbpm_pb2  # noqa: F401
    from zennode.cluster.proto import cluster_pb2  # noqa: F401

    pool = descriptor_pool.Default()
    gateway = pool.FindServiceByName("gateway_protocol.Gateway")
    assert {"ActivateJobs", "StreamActivatedJobs", "CompleteJob", "Topology"} <= {
        m.name for m in gateway.methods
    }
    assert pool.FindServiceByName("grpc.ZenBpm").methods_by_name["JobStream"]
    assert pool.FindServiceByName("zennode.cluster.Cluster")
