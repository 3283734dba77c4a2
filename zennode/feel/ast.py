"""AST nodes: small tuples-like classes, each with the source position for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Node:
    pos: int


@dataclass(slots=True)
class Literal(Node):
    value: Any


@dataclass(slots=True)
class Name(Node):
    name: str


@dataclass(slots=True)
class Path(Node):
    target: Node
    name: str


@dataclass(slots=True)
class Filter(Node):
    target: Node
    predicate: Node


@dataclass(slots=True)
class Call(Node):
    target: Node
    args: list[Node]
    named: list[tuple[str, Node]] | None  # named invocation when not None


@dataclass(slots=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(slots=True)
class Binary(Node):
    op: str  # + - * / ** = != < <= > >= and or
    left: Node
    right: Node


@dataclass(slots=True)
class Between(Node):
    value: Node
    low: Node
    high: Node


@dataclass(slots=True)
class UnaryTest(Node):
    """One positive unary test: `op` is a comparison operator or "" for a plain expression."""

    op: str
    operand: Node
    uses_input: bool  # the plain expression mentions `?`


@dataclass(slots=True)
class In(Node):
    value: Node
    tests: list[UnaryTest]


@dataclass(slots=True)
class InstanceOf(Node):
    value: Node
    type: Any


@dataclass(slots=True)
class ListNode(Node):
    items: list[Node]


@dataclass(slots=True)
class ContextNode(Node):
    entries: list[tuple[str, Node]]


@dataclass(slots=True)
class RangeNode(Node):
    start: Node | None
    end: Node | None
    start_included: bool
    end_included: bool
    single: bool = False


@dataclass(slots=True)
class If(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(slots=True)
class For(Node):
    iterators: list[tuple[str, Node, Node | None]]  # name, start/list, end of a number range
    body: Node


@dataclass(slots=True)
class Quantified(Node):
    every: bool
    iterators: list[tuple[str, Node]]
    condition: Node


@dataclass(slots=True)
class FunctionDef(Node):
    params: list[tuple[str, Any]]  # name, type or None
    body: Node
    #: `function(x) external {java: {...}}`: the body is the mapping, not the logic
    external: bool = False
