"""DMN types: item definitions and built-in type references, with the spec's checks.

A typed variable (a decision, an input, a context entry, a parameter) receives a value through
`coerce` (DMN 1.5, 10.3.2.9.4): a value that conforms passes; a singleton list gives its item
where a single value is expected; a single value becomes a list where a collection is expected;
a `date` becomes a `date and time` at midnight UTC; anything else becomes null. Conformance is
structural: a context conforms to a structure when it has every component (extra entries are
fine), each conforming; `allowedValues` / `typeConstraint` are unary tests the value must pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from zennode.feel import FeelError
from zennode.feel import types as feel_types
from zennode.feel.parser import Parser
from zennode.feel.scope import Scope, State
from zennode.feel.unary import UnaryTests
from zennode.feel.values import Function


class DmnType:
    """Any: every value conforms."""

    name = "Any"
    is_collection = False

    def conforms(self, value: Any, partial: bool = False) -> bool:
        return True

    def coerce(self, value: Any, partial: bool = False) -> Any:
        """The value as this type gives it to a variable; None when it does not conform.

        `partial`: a context may lack components (values from outside the model: inputs).
        """
        if value is None:
            return None
        if self.conforms(value, partial):
            return value
        if not self.is_collection:
            if type(value) is list and len(value) == 1 and self.conforms(value[0], partial):
                return value[0]
        elif type(value) is not list and self.item_type().conforms(value, partial):
            return [value]
        if type(value) is dt.date and self.accepts_date_time():
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        return None

    def item_type(self) -> DmnType:
        return ANY

    def accepts_date_time(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<type {self.name}>"


ANY = DmnType()


_PYTHON_TYPES = {("name", "number"): Decimal, ("name", "string"): str, ("name", "boolean"): bool}


class FeelType(DmnType):
    """A FEEL type: `number`, `list<string>`, `context<a: number>`, ..."""

    def __init__(self, name: str, feel_type: tuple) -> None:
        self.name = name
        self.feel_type = feel_type
        self.is_collection = feel_type[0] == "list"
        #: the Python type of a plain number / string / boolean type (a quick check)
        self._py = _PYTHON_TYPES.get(feel_type) if feel_type[0] == "name" else None

    def conforms(self, value: Any, partial: bool = False) -> bool:
        if self._py is not None and type(value) is self._py:
            return True
        return value is None or feel_types.is_instance(value, self.feel_type)

    def coerce(self, value: Any, partial: bool = False) -> Any:
        if self.feel_type[0] == "Any":
            return value
        return super().coerce(value, partial)

    def item_type(self) -> DmnType:
        if self.feel_type[0] == "list":
            return FeelType(self.name, self.feel_type[1])
        return ANY

    def accepts_date_time(self) -> bool:
        return self.feel_type == ("name", "date and time")


class Constrained(DmnType):
    """A base type narrowed by allowed values (`[0..255]`, `"A", "B"`) or a type constraint."""

    def __init__(self, name: str, base: DmnType, tests: list[UnaryTests]) -> None:
        self.name = name
        self.base = base
        self.tests = tests

    @property
    def is_collection(self) -> bool:  # type: ignore[override]
        return self.base.is_collection

    def conforms(self, value: Any, partial: bool = False) -> bool:
        if not self.base.conforms(value, partial):
            return False
        return value is None or all(_passes(t, value) for t in self.tests)

    def item_type(self) -> DmnType:
        return self.base.item_type()

    def accepts_date_time(self) -> bool:
        return self.base.accepts_date_time()


class Collection(DmnType):
    """`isCollection="true"`: a list whose items conform to `item`."""

    is_collection = True

    def __init__(self, name: str, item: DmnType) -> None:
        self.name = name
        self.item = item

    def conforms(self, value: Any, partial: bool = False) -> bool:
        if value is None:
            return True
        return type(value) is list and all(self.item.conforms(v, partial) for v in value)

    def item_type(self) -> DmnType:
        return self.item


class Structure(DmnType):
    """Item components: a context with (at least) these entries."""

    def __init__(self, name: str, components: list[tuple[str, DmnType]]) -> None:
        self.name = name
        self.components = components

    def conforms(self, value: Any, partial: bool = False) -> bool:
        if value is None:
            return True
        if type(value) is not dict:
            return False
        for key, t in self.components:
            if key not in value:
                if partial:
                    continue
                return False
            if not t.conforms(value[key], partial):
                return False
        return True


class FunctionItem(DmnType):
    """`functionItem`: a function; `output` types the result of a decision service."""

    def __init__(self, name: str, params: list[tuple[str, DmnType]], output: DmnType) -> None:
        self.name = name
        self.params = params
        self.output = output

    def conforms(self, value: Any, partial: bool = False) -> bool:
        return value is None or isinstance(value, Function)


class Ref(DmnType):
    """A type reference resolved on first use, so item definitions may refer to each other
    in any order (and to themselves: a tree of nodes)."""

    def __init__(self, name: str, resolve: Callable[[], DmnType]) -> None:
        self.name = name
        self._resolve: Callable[[], DmnType] | None = resolve
        self._target: DmnType | None = None

    def target(self) -> DmnType:
        if self._target is None:
            resolve, self._resolve = self._resolve, None
            if resolve is None:  # a definition that refers to itself without structure
                return ANY
            self._target = resolve()
        return self._target

    @property
    def is_collection(self) -> bool:  # type: ignore[override]
        return self.target().is_collection

    def conforms(self, value: Any, partial: bool = False) -> bool:
        return self.target().conforms(value, partial)

    def coerce(self, value: Any, partial: bool = False) -> Any:
        return self.target().coerce(value, partial)

    def item_type(self) -> DmnType:
        return self.target().item_type()

    def accepts_date_time(self) -> bool:
        return self.target().accepts_date_time()


def _passes(tests: UnaryTests, value: Any) -> bool:
    try:
        return tests.matches(value, Scope({}, None, State())) is True
    except FeelError:
        return False


# ---------------------------------------------------------------- names of built-in types

#: type names as XML Schema, DMN 1.1 QNames and Camunda Modeler write them
_ALIASES = {
    "decimal": "number",
    "double": "number",
    "float": "number",
    "integer": "number",
    "int": "number",
    "long": "number",
    "short": "number",
    "dateTime": "date and time",
    "dayTimeDuration": "days and time duration",
    "yearMonthDuration": "years and months duration",
}


def builtin_type(name: str) -> DmnType | None:
    """A FEEL type for a type reference that is not an item definition, or None."""
    plain = name.strip()
    if ":" in plain and not plain.startswith(("list<", "context<", "function<", "range<")):
        plain = plain.rpartition(":")[2]  # feel:string, xsd:decimal (DMN 1.1)
    plain = _ALIASES.get(plain, plain)
    if plain == "Any":
        return ANY
    if plain in feel_types.SIMPLE or plain == "Null":
        return FeelType(plain, feel_types.named(plain))
    try:
        p = Parser(plain)
        t = p.type_expr()
        if p.tok.kind != "eof":
            return None
    except (FeelError, RecursionError):
        return None
    if t[0] == "name" and t[1] not in feel_types.SIMPLE:
        return None
    return FeelType(plain, t)
