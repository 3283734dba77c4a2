"""Public faces of a node: REST (`api.rest`), gRPC JobStream (`api.grpc_server`), metrics.

API modules translate between wire formats and the `Node` façade; they never touch
partitions or the engine, and they map errors through `zennode.errors` only.
"""
