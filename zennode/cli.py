"""The `zennode` command line (click).

`zennode start` runs one node until SIGINT/SIGTERM. Configuration problems (unknown key,
wrong type, port in use, unwritable data dir) print one line on stderr and exit with
status 2, so scripts and people see at once what to fix.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import click

from zennode import __version__
from zennode.config import (
    LOG_FORMATS,
    PORT_OFFSET_GRPC,
    PORT_OFFSET_INTERNAL,
    PORT_OFFSET_RAFT_BASE,
    load_config,
)
from zennode.errors import ConfigError

EXIT_CONFIG = 2


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # PySyncObj and uvicorn are chatty at INFO; keep their warnings.
    for noisy in ("uvicorn.error", "uvicorn.access", "pysyncobj"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def fail_config(message: str) -> None:
    click.echo(f"zennode: configuration error: {message}", err=True)
    sys.exit(EXIT_CONFIG)


@click.group(
    help="zennode: a clustered BPMN 2.0 process engine (Raft per partition, LMDB state, "
    "REST and gRPC job streams)."
)
@click.version_option(__version__, prog_name="zennode")
def main() -> None:
    pass


@main.command(
    help=f"""Start one node and serve until Ctrl-C or SIGTERM.

Without --config the embedded default is used: one node on 127.0.0.1, one partition,
data under ./data, REST on port 8080. With --port-base N the node's ports are: HTTP N,
public gRPC N+{PORT_OFFSET_GRPC}, internal gRPC N+{PORT_OFFSET_INTERNAL}, and Raft
N+{PORT_OFFSET_RAFT_BASE}+partition id.

Configuration errors print one line and exit with status {EXIT_CONFIG}."""
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML config file (see cluster-configs/single.yaml). Default: the embedded config.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    default=None,
    help="Directory for this node's state (LMDB and Raft journal per partition); "
    "overrides data_dir from the config.",
)
@click.option(
    "--port-base",
    type=click.IntRange(1, 65535),
    metavar="N",
    default=None,
    help=f"Put all of this node's ports after N: HTTP N, gRPC N+{PORT_OFFSET_GRPC}, internal "
    f"N+{PORT_OFFSET_INTERNAL}, Raft N+{PORT_OFFSET_RAFT_BASE}+partition. Lets several nodes "
    "or test runs share one machine.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default=None,
    help="Log lines as readable text or one JSON object per line; overrides log.format.",
)
def start(
    config_path: str | None,
    data_dir: str | None,
    port_base: int | None,
    log_format: str | None,
) -> None:
    try:
        config = load_config(config_path).with_overrides(
            data_dir=data_dir, port_base=port_base, log_format=log_format
        )
    except ConfigError as exc:
        fail_config(exc.message)
        return
    configure_logging(config.log.level, config.log.format)

    from zennode import heapwatch
    from zennode.node import Node

    heapwatch.start_from_env()  # off unless ZENNODE_HEAPWATCH_DIR is set (investigations)

    node = Node(config)
    try:
        node.run()
    except ConfigError as exc:
        fail_config(exc.message)
    except KeyboardInterrupt:
        pass


@main.command(
    help="""Print the cluster topology: nodes (up/down) and partitions (leader, followers, each
replica's role, applied index and state digest).

Asks the node that --config describes (node_id) over HTTP, then the other members if it does
not answer. Exits with status 1 when no member answers."""
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML config of a cluster member. Default: the embedded config.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the topology as JSON.")
@click.option(
    "--timeout",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds to wait for each node's answer.",
)
def status(config_path: str | None, as_json: bool, timeout: float) -> None:
    import urllib.error
    import urllib.request

    from zennode.api.auth import api_request
    from zennode.cluster.topology import format_topology

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail_config(exc.message)
        return
    members = sorted(config.members, key=lambda m: (m.id != config.node_id, m.id))
    errors = []
    for member in members:
        # https and a bearer token when the config has them (docs/security.md)
        request, tls = api_request(config, member.host, member.ports.http, "/v1/cluster/topology")
        url = request.full_url
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=tls) as response:  # noqa: S310
                topology = json.loads(response.read())
        except (OSError, urllib.error.URLError, ValueError) as exc:
            errors.append(f"node {member.id} ({url}): {getattr(exc, 'reason', exc)}")
            continue
        click.echo(json.dumps(topology, indent=2) if as_json else format_topology(topology))
        return
    click.echo("zennode: no cluster member answered:\n  " + "\n  ".join(errors), err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
