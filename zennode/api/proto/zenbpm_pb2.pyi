from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobStreamRequest(_message.Message):
    __slots__ = ("subscription", "complete", "fail")
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    FAIL_FIELD_NUMBER: _ClassVar[int]
    subscription: StreamSubscriptionRequest
    complete: JobCompleteRequest
    fail: JobFailRequest
    def __init__(self, subscription: _Optional[_Union[StreamSubscriptionRequest, _Mapping]] = ..., complete: _Optional[_Union[JobCompleteRequest, _Mapping]] = ..., fail: _Optional[_Union[JobFailRequest, _Mapping]] = ...) -> None: ...

class StreamSubscriptionRequest(_message.Message):
    __slots__ = ("job_type", "type", "lock_duration", "max_active_jobs")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNDEFINED: _ClassVar[StreamSubscriptionRequest.Type]
        TYPE_SUBSCRIBE: _ClassVar[StreamSubscriptionRequest.Type]
        TYPE_UNSUBSCRIBE: _ClassVar[StreamSubscriptionRequest.Type]
    TYPE_UNDEFINED: StreamSubscriptionRequest.Type
    TYPE_SUBSCRIBE: StreamSubscriptionRequest.Type
    TYPE_UNSUBSCRIBE: StreamSubscriptionRequest.Type
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LOCK_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_ACTIVE_JOBS_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    type: StreamSubscriptionRequest.Type
    lock_duration: int
    max_active_jobs: int
    def __init__(self, job_type: _Optional[str] = ..., type: _Optional[_Union[StreamSubscriptionRequest.Type, str]] = ..., lock_duration: _Optional[int] = ..., max_active_jobs: _Optional[int] = ...) -> None: ...

class JobCompleteRequest(_message.Message):
    __slots__ = ("key", "variables", "idempotency_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    key: int
    variables: bytes
    idempotency_key: str
    def __init__(self, key: _Optional[int] = ..., variables: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class JobFailRequest(_message.Message):
    __slots__ = ("key", "message", "error_code", "variables", "retries", "retry_backoff_ms", "idempotency_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    RETRY_BACKOFF_MS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    key: int
    message: str
    error_code: str
    variables: bytes
    retries: int
    retry_backoff_ms: int
    idempotency_key: str
    def __init__(self, key: _Optional[int] = ..., message: _Optional[str] = ..., error_code: _Optional[str] = ..., variables: _Optional[bytes] = ..., retries: _Optional[int] = ..., retry_backoff_ms: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class JobStreamResponse(_message.Message):
    __slots__ = ("error", "job")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    error: ErrorResult
    job: WaitingJob
    def __init__(self, error: _Optional[_Union[ErrorResult, _Mapping]] = ..., job: _Optional[_Union[WaitingJob, _Mapping]] = ...) -> None: ...

class WaitingJob(_message.Message):
    __slots__ = ("key", "instance_key", "input_variables", "type", "element_id", "created_at", "custom_headers", "retries", "deadline", "element_instance_key", "worker")
    KEY_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_KEY_FIELD_NUMBER: _ClassVar[int]
    INPUT_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_HEADERS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_INSTANCE_KEY_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    key: int
    instance_key: int
    input_variables: bytes
    type: str
    element_id: str
    created_at: int
    custom_headers: bytes
    retries: int
    deadline: int
    element_instance_key: int
    worker: str
    def __init__(self, key: _Optional[int] = ..., instance_key: _Optional[int] = ..., input_variables: _Optional[bytes] = ..., type: _Optional[str] = ..., element_id: _Optional[str] = ..., created_at: _Optional[int] = ..., custom_headers: _Optional[bytes] = ..., retries: _Optional[int] = ..., deadline: _Optional[int] = ..., element_instance_key: _Optional[int] = ..., worker: _Optional[str] = ...) -> None: ...

class ErrorResult(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...
