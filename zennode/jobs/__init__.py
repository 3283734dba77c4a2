"""Jobs: the internal handler runner (here) and the job manager (server and client side).

`JobError` lives here, not in `zennode.errors`, because user code raises it, not the node:
it carries a BPMN error code that an error boundary event can catch.
"""

from __future__ import annotations


class JobError(Exception):
    """Raise from a job handler to fail the job with a BPMN error code.

    An error boundary or error event with this code catches it; without one, the job fails
    into an incident that names the code.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


__all__ = ["JobError"]
