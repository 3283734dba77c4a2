from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RelayUp(_message.Message):
    __slots__ = ("hello", "subscribe", "unsubscribe", "remove", "heartbeat", "open")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    hello: RelayHello
    subscribe: RelaySubscribe
    unsubscribe: RelayUnsubscribe
    remove: RelayRemoveWorker
    heartbeat: RelayHeartbeat
    open: RelayOpenWorker
    def __init__(self, hello: _Optional[_Union[RelayHello, _Mapping]] = ..., subscribe: _Optional[_Union[RelaySubscribe, _Mapping]] = ..., unsubscribe: _Optional[_Union[RelayUnsubscribe, _Mapping]] = ..., remove: _Optional[_Union[RelayRemoveWorker, _Mapping]] = ..., heartbeat: _Optional[_Union[RelayHeartbeat, _Mapping]] = ..., open: _Optional[_Union[RelayOpenWorker, _Mapping]] = ...) -> None: ...

class RelayOpenWorker(_message.Message):
    __slots__ = ("worker_id", "opened_at_ms")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    opened_at_ms: int
    def __init__(self, worker_id: _Optional[str] = ..., opened_at_ms: _Optional[int] = ...) -> None: ...

class RelayHello(_message.Message):
    __slots__ = ("from_node",)
    FROM_NODE_FIELD_NUMBER: _ClassVar[int]
    from_node: int
    def __init__(self, from_node: _Optional[int] = ...) -> None: ...

class RelaySubscribe(_message.Message):
    __slots__ = ("worker_id", "job_type", "lock_ms", "jobs_max")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOCK_MS_FIELD_NUMBER: _ClassVar[int]
    JOBS_MAX_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_type: str
    lock_ms: int
    jobs_max: int
    def __init__(self, worker_id: _Optional[str] = ..., job_type: _Optional[str] = ..., lock_ms: _Optional[int] = ..., jobs_max: _Optional[int] = ...) -> None: ...

class RelayUnsubscribe(_message.Message):
    __slots__ = ("worker_id", "job_type")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_type: str
    def __init__(self, worker_id: _Optional[str] = ..., job_type: _Optional[str] = ...) -> None: ...

class RelayRemoveWorker(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class RelayHeartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RelayDown(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[RelayJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[RelayJob, _Mapping]]] = ...) -> None: ...

class RelayJob(_message.Message):
    __slots__ = ("partition_id", "worker_id", "job_json")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_JSON_FIELD_NUMBER: _ClassVar[int]
    partition_id: int
    worker_id: str
    job_json: bytes
    def __init__(self, partition_id: _Optional[int] = ..., worker_id: _Optional[str] = ..., job_json: _Optional[bytes] = ...) -> None: ...
