from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitRequest(_message.Message):
    __slots__ = ("partition_id", "command_json", "from_node")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_JSON_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    partition_id: int
    command_json: bytes
    from_node: int
    def __init__(self, partition_id: _Optional[int] = ..., command_json: _Optional[bytes] = ..., from_node: _Optional[int] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ("partition_id", "query", "args_json", "from_node")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    partition_id: int
    query: str
    args_json: bytes
    from_node: int
    def __init__(self, partition_id: _Optional[int] = ..., query: _Optional[str] = ..., args_json: _Optional[bytes] = ..., from_node: _Optional[int] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("result_json", "error_json")
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_JSON_FIELD_NUMBER: _ClassVar[int]
    result_json: bytes
    error_json: bytes
    def __init__(self, result_json: _Optional[bytes] = ..., error_json: _Optional[bytes] = ...) -> None: ...

class RolesRequest(_message.Message):
    __slots__ = ("from_node", "with_digest")
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    WITH_DIGEST_FIELD_NUMBER: _ClassVar[int]
    from_node: int
    with_digest: bool
    def __init__(self, from_node: _Optional[int] = ..., with_digest: _Optional[bool] = ...) -> None: ...

class ReplicaRole(_message.Message):
    __slots__ = ("partition_id", "role", "leader_node", "term", "applied_index", "digest")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    partition_id: int
    role: str
    leader_node: int
    term: int
    applied_index: int
    digest: str
    def __init__(self, partition_id: _Optional[int] = ..., role: _Optional[str] = ..., leader_node: _Optional[int] = ..., term: _Optional[int] = ..., applied_index: _Optional[int] = ..., digest: _Optional[str] = ...) -> None: ...

class RolesReply(_message.Message):
    __slots__ = ("node_id", "replicas")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaRole]
    def __init__(self, node_id: _Optional[int] = ..., replicas: _Optional[_Iterable[_Union[ReplicaRole, _Mapping]]] = ...) -> None: ...
