"""The compiled model: DRG elements of one DMN document and how they refer to each other.

`DecisionDefinitions` is what `parse_dmn` returns and `evaluate` takes. It is immutable after
parsing and shares nothing with an evaluation, so one instance serves any number of
evaluations, from any thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .boxed import Expr
from .types import ANY, DmnType


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to a DRG element: its model's namespace and its id."""

    namespace: str
    id: str


@dataclass(slots=True)
class InputData:
    id: str
    name: str
    type: DmnType = ANY


@dataclass(slots=True)
class Decision:
    id: str
    name: str
    type: DmnType
    expression: Expr
    #: informationRequirement: required decisions and inputs, in document order
    information: list[Ref] = field(default_factory=list)
    #: knowledgeRequirement: business knowledge models and decision services
    knowledge: list[Ref] = field(default_factory=list)
    #: Zeebe / Camunda `versionTag`, if the model sets one
    version_tag: str | None = None
    #: information then knowledge requirements (what the decision's scope binds)
    requires: list[Ref] = field(init=False)

    def __post_init__(self) -> None:
        self.requires = self.information + self.knowledge


@dataclass(slots=True)
class BusinessKnowledgeModel:
    id: str
    name: str
    params: list[tuple[str, DmnType]]
    body: Expr
    result_type: DmnType = ANY
    knowledge: list[Ref] = field(default_factory=list)


@dataclass(slots=True)
class DecisionService:
    id: str
    name: str
    type: DmnType
    outputs: list[Ref]
    encapsulated: list[Ref]
    input_decisions: list[Ref]
    input_data: list[Ref]


Element = InputData | Decision | BusinessKnowledgeModel | DecisionService


@dataclass(slots=True)
class DecisionDefinitions:
    """One DMN document (`definitions`), compiled."""

    id: str
    name: str
    namespace: str
    #: "1.1" .. "1.5", from the document's namespace
    dmn_version: str
    elements: dict[str, Element] = field(default_factory=dict)
    #: import name -> the imported definitions ("" for an unnamed import)
    imports: dict[str, DecisionDefinitions] = field(default_factory=dict)
    #: item definitions by name
    types: dict[str, DmnType] = field(default_factory=dict)
    #: problems found when the document was read leniently (each also fails at evaluation)
    problems: list[str] = field(default_factory=list)

    @property
    def decisions(self) -> list[Decision]:
        return [e for e in self.elements.values() if isinstance(e, Decision)]

    @property
    def decision_services(self) -> list[DecisionService]:
        return [e for e in self.elements.values() if isinstance(e, DecisionService)]

    def find(self, id_or_name: str, kind: type = Decision) -> Element | None:
        """An element of this document by id, else by name."""
        e = self.elements.get(id_or_name)
        if isinstance(e, kind):
            return e
        for e in self.elements.values():
            if isinstance(e, kind) and e.name == id_or_name:
                return e
        return None

    def model_of(self, namespace: str) -> tuple[tuple[str, ...], DecisionDefinitions] | None:
        """The definitions with `namespace` and the import names leading to it from here."""
        if namespace in ("", self.namespace):
            return (), self
        for prefix, imported in self.imports.items():
            found = imported.model_of(namespace)
            if found is not None:
                path, defs = found
                return ((prefix, *path) if prefix else path), defs
        return None
