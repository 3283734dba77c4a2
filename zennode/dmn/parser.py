"""DMN XML -> `DecisionDefinitions`: every expression compiled once, every problem named.

`parse_dmn(data)` refuses a document with a `BadRequest` that names the element at fault (a
FEEL syntax error, a rule with the wrong number of entries, a requirement pointing nowhere, a
cycle between decisions). With `lenient=True` (the TCK runner) an expression that does not
compile is kept as one that fails when evaluated, and the rest of the model stays usable.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element

from zennode.errors import BadRequest
from zennode.feel import FeelError
from zennode.feel import compile as compile_feel
from zennode.feel.unary import UnaryTests, compile_unary_tests

from . import boxed as B
from .model import (
    BusinessKnowledgeModel,
    Decision,
    DecisionDefinitions,
    DecisionService,
    InputData,
    Ref,
)
from .model import Element as DrgElement
from .tables import AGGREGATIONS, HIT_POLICIES, DecisionTable, Input, Output, Rule
from .types import (
    ANY,
    Collection,
    Constrained,
    DmnType,
    FunctionItem,
    Structure,
    builtin_type,
)
from .types import Ref as TypeRef
from .xml import DMN_NAMESPACES, child, children, extension_attr, local, namespace, parse_xml

BOXED = frozenset(
    {
        "literalExpression",
        "decisionTable",
        "context",
        "list",
        "relation",
        "functionDefinition",
        "invocation",
        "conditional",
        "for",
        "every",
        "some",
        "filter",
    }
)


def parse_dmn(
    data: bytes, imports: Iterable[DecisionDefinitions] = (), *, lenient: bool = False
) -> DecisionDefinitions:
    """Read one DMN 1.1-1.5 document; `imports` are already parsed documents it may import."""
    root = parse_xml(data)
    return _Reader(root, list(imports), lenient).read()


def imported_namespaces(data: bytes) -> list[str]:
    """The namespaces a document imports (to parse a set of documents in dependency order)."""
    root = parse_xml(data)
    return [i.get("namespace", "") for i in children(root, "import")]


def document_namespace(data: bytes) -> str:
    return parse_xml(data).get("namespace", "")


def _feel_language(lang: str | None) -> bool:
    return lang is None or lang == "" or "feel" in lang.lower()


class _Reader:
    def __init__(self, root: Element, available: list[DecisionDefinitions], lenient: bool) -> None:
        self.root = root
        self.available = available
        self.lenient = lenient
        ns = root.get("namespace", "")
        self.defs = DecisionDefinitions(
            id=root.get("id", ""),
            name=root.get("name", ""),
            namespace=ns,
            dmn_version=DMN_NAMESPACES[namespace(root)],
        )
        self.language = root.get("expressionLanguage")
        self.item_elements: dict[str, Element] = {}
        self.by_id = {el.get("id") or el.get("name"): el for el in root}

    # ------------------------------------------------------------ errors
    def fail(self, where: str, message: str) -> B.Expr:
        text = f"{where}: {message}"
        if not self.lenient:
            raise BadRequest(text)
        self.defs.problems.append(text)
        return B.Failing(text)

    # ------------------------------------------------------------ document
    def read(self) -> DecisionDefinitions:
        self._imports()
        self._types()
        drg: list[tuple[Element, str]] = []
        for el in self.root:
            kind = local(el)
            if kind in ("decision", "inputData", "businessKnowledgeModel", "decisionService"):
                # the id is optional in DMN; without one, the name identifies the element
                eid = el.get("id") or el.get("name")
                if not eid:
                    raise BadRequest(f"a {kind} has neither an id nor a name")
                if eid in self.defs.elements or any(e is not el and i == eid for e, i in drg):
                    raise BadRequest(f"two elements have the id '{eid}'")
                drg.append((el, eid))
        # names first (requirements refer to each other in any order), then logic
        for el, eid in drg:
            if local(el) == "inputData":
                self.defs.elements[eid] = InputData(eid, _name(el), self.var_type(el))
        for el, eid in drg:
            kind = local(el)
            if kind == "decision":
                self.defs.elements[eid] = self.decision(el, eid)
            elif kind == "businessKnowledgeModel":
                self.defs.elements[eid] = self.bkm(el, eid)
            elif kind == "decisionService":
                self.defs.elements[eid] = self.service(el, eid)
        self._check_references()
        self._check_cycles()
        return self.defs

    def _imports(self) -> None:
        for imp in children(self.root, "import"):
            ns = imp.get("namespace", "")
            name = imp.get("name", "")
            kind = imp.get("importType", "")
            if kind and "DMN" not in kind.upper():
                continue  # XML Schema / PMML imports: types we do not read
            found = next((d for d in self.available if d.namespace == ns), None)
            if found is None:
                raise BadRequest(
                    f"import '{name}': no DMN document with namespace '{ns}' was given"
                )
            self.defs.imports[name] = found

    # ------------------------------------------------------------ types
    def _types(self) -> None:
        for el in children(self.root, "itemDefinition"):
            name = el.get("name")
            if name:
                self.item_elements[name] = el
        for name, el in self.item_elements.items():
            self.defs.types[name] = TypeRef(name, lambda el=el, name=name: self.item_type(el, name))
        # resolved now, so a bad definition is refused here and the model is immutable after
        for t in self.defs.types.values():
            t.target()  # type: ignore[attr-defined]

    def type_ref(self, ref: str | None) -> DmnType:
        if ref is None or not ref.strip():
            return ANY
        ref = ref.strip()
        if ref in self.defs.types:
            return self.defs.types[ref]
        if "." in ref:
            prefix, _, rest = ref.partition(".")
            imported = self.defs.imports.get(prefix)
            if imported is not None and rest in imported.types:
                return imported.types[rest]
        if ":" in ref:  # DMN 1.1 QNames: tns:tPerson
            plain = ref.rpartition(":")[2]
            if plain in self.defs.types:
                return self.defs.types[plain]
        for prefix, imported in self.defs.imports.items():
            if not prefix and ref in imported.types:
                return imported.types[ref]
        found = builtin_type(ref)
        return found if found is not None else ANY

    def item_type(self, el: Element, name: str) -> DmnType:
        where = f"itemDefinition '{name}'"
        fn = child(el, "functionItem")
        components = list(children(el, "itemComponent"))
        if fn is not None:
            params = [
                (_name(p), self.type_ref(p.get("typeRef") or _text(child(p, "typeRef"))))
                for p in children(fn, "parameters")
            ]
            base: DmnType = FunctionItem(name, params, self.type_ref(fn.get("outputTypeRef")))
        elif components:
            base = Structure(name, [(_name(c), self.item_type(c, _name(c))) for c in components])
        else:
            ref = _text(child(el, "typeRef")) or el.get("typeRef")
            base = self.type_ref(ref)
        allowed = self.tests(child(el, "allowedValues"), f"{where} allowedValues")
        constraint = self.tests(child(el, "typeConstraint"), f"{where} typeConstraint")
        if allowed is not None:
            base = Constrained(name, base, [allowed])
        if el.get("isCollection") == "true":
            base = Collection(name, base)
        if constraint is not None:
            base = Constrained(name, base, [constraint])
        return base

    def tests(
        self, el: Element | None, where: str, names: frozenset[str] = frozenset()
    ) -> UnaryTests | None:
        """Unary tests from an element's `<text>`; None when there is none."""
        if el is None:
            return None
        text = _text(child(el, "text"))
        if text is None or not text.strip():
            return None
        try:
            return compile_unary_tests(text, names)
        except FeelError as exc:
            if not self.lenient:
                raise BadRequest(f"{where}: {exc}") from None
            self.defs.problems.append(f"{where}: {exc.message}")
            return None

    def var_type(self, el: Element) -> DmnType:
        var = child(el, "variable")
        ref = var.get("typeRef") if var is not None else None
        return self.type_ref(ref)

    # ------------------------------------------------------------ DRG elements
    def href(self, el: Element, where: str) -> Ref:
        h = el.get("href", "")
        ns, _, eid = h.rpartition("#")
        if not eid:
            raise BadRequest(f"{where}: {local(el)} has no href")
        return Ref(ns or self.defs.namespace, eid)

    def requirement_names(self, refs: list[Ref]) -> frozenset[str]:
        """The names a requirement makes visible: element names, import names."""
        names: set[str] = set()
        for ref in refs:
            found = self.defs.model_of(ref.namespace)
            if found is None:
                continue
            path, model = found
            if path:
                names.add(path[0])
            el = model.elements.get(ref.id)
            if isinstance(el, Decision):
                names.add(ref.id)  # also bound by id (see evaluate.requirement_scope)
            if el is not None:
                names.add(el.name)
            elif model is self.defs and ref.id in self.by_id:
                names.add(_name(self.by_id[ref.id]))
                names.add(ref.id)
        return frozenset(names)

    def decision(self, el: Element, eid: str) -> Decision:
        where = f"decision '{eid}'"
        information: list[Ref] = []
        for req in children(el, "informationRequirement"):
            for r in req:
                if local(r) in ("requiredDecision", "requiredInput"):
                    information.append(self.href(r, where))
        knowledge = [
            self.href(r, where)
            for req in children(el, "knowledgeRequirement")
            for r in children(req, "requiredKnowledge")
        ]
        names = self.requirement_names(information + knowledge)
        logic = _logic(el)
        expr = B.Empty() if logic is None else self.expression(logic, where, names)
        return Decision(
            eid,
            _name(el),
            self.var_type(el),
            expr,
            information,
            knowledge,
            _version_tag(el),
        )

    def bkm(self, el: Element, eid: str) -> BusinessKnowledgeModel:
        where = f"business knowledge model '{eid}'"
        knowledge = [
            self.href(r, where)
            for req in children(el, "knowledgeRequirement")
            for r in children(req, "requiredKnowledge")
        ]
        logic = child(el, "encapsulatedLogic")
        params: list[tuple[str, DmnType]] = []
        body: B.Expr = B.Empty()
        result_type: DmnType = ANY
        var_type = self.var_type(el)
        if isinstance(var_type, TypeRef):
            var_type = var_type.target()
        if isinstance(var_type, FunctionItem):
            result_type = var_type.output
        if logic is not None:
            params = self.params(logic)
            names = self.requirement_names(knowledge) | {p for p, _ in params} | {_name(el)}
            body = self.function_body(logic, where, names, params)
        return BusinessKnowledgeModel(eid, _name(el), params, body, result_type, knowledge)

    def service(self, el: Element, eid: str) -> DecisionService:
        where = f"decision service '{eid}'"

        def refs(tag: str) -> list[Ref]:
            return [self.href(r, where) for r in children(el, tag)]

        return DecisionService(
            eid,
            _name(el),
            self.var_type(el),
            refs("outputDecision"),
            refs("encapsulatedDecision"),
            refs("inputDecision"),
            refs("inputData"),
        )

    def params(self, fn: Element) -> list[tuple[str, DmnType]]:
        return [
            (_name(p), self.type_ref(p.get("typeRef") or _text(child(p, "typeRef"))))
            for p in children(fn, "formalParameter")
        ]

    def _check_references(self) -> None:
        for e in self.defs.elements.values():
            refs: list[tuple[Ref, tuple[type, ...]]] = []
            if isinstance(e, Decision):
                where = f"decision '{e.id}'"
                refs = [(r, (Decision, InputData)) for r in e.information]
                refs += [(r, (BusinessKnowledgeModel, DecisionService)) for r in e.knowledge]
            elif isinstance(e, BusinessKnowledgeModel):
                where = f"business knowledge model '{e.id}'"
                refs = [(r, (BusinessKnowledgeModel, DecisionService)) for r in e.knowledge]
            elif isinstance(e, DecisionService):
                where = f"decision service '{e.id}'"
                refs = [(r, (Decision,)) for r in e.outputs + e.encapsulated + e.input_decisions]
                refs += [(r, (InputData,)) for r in e.input_data]
            for ref, kinds in refs:
                target = self.resolve(ref)
                if target is None:
                    raise BadRequest(f"{where}: requires '{ref.id}', which is not in the model")
                if not isinstance(target, kinds):
                    raise BadRequest(f"{where}: '{ref.id}' is not a {kinds[0].__name__}")

    def resolve(self, ref: Ref) -> DrgElement | None:
        found = self.defs.model_of(ref.namespace)
        if found is None:
            return None
        return found[1].elements.get(ref.id)

    def _check_cycles(self) -> None:
        """Decisions must not require themselves through other decisions."""
        state: dict[str, int] = {}

        def visit(d: Decision, chain: list[str]) -> None:
            mark = state.get(d.id)
            if mark == 2:
                return
            if mark == 1:
                raise BadRequest(
                    "decisions require each other in a cycle: " + " -> ".join([*chain, d.id])
                )
            state[d.id] = 1
            for ref in d.information:
                target = self.resolve(ref)
                if isinstance(target, Decision) and ref.namespace == self.defs.namespace:
                    visit(target, [*chain, d.id])
            state[d.id] = 2

        for d in self.defs.decisions:
            visit(d, [])

    # ------------------------------------------------------------ boxed expressions
    def expression(self, el: Element, where: str, names: frozenset[str]) -> B.Expr:
        kind = local(el)
        t = self.type_ref(el.get("typeRef"))
        if kind == "literalExpression":
            return self.literal(el, where, names, t)
        if kind == "decisionTable":
            return self.table(el, where, names, t)
        if kind == "context":
            return self.context(el, where, names, t)
        if kind == "list":
            items = [self.expression(c, where, names) for c in el if local(c) in BOXED]
            return B.ListExpr(items, t)
        if kind == "relation":
            return self.relation(el, where, names, t)
        if kind in ("functionDefinition", "encapsulatedLogic"):
            params = self.params(el)
            body = self.function_body(el, where, names | {p for p, _ in params}, params)
            return B.FunctionDefinition(params, body, t)
        if kind == "invocation":
            return self.invocation(el, where, names, t)
        if kind == "conditional":
            parts = [self.child_expression(el, p, where, names) for p in ("if", "then", "else")]
            return B.Conditional(parts[0], parts[1], parts[2], t)
        if kind in ("for", "every", "some"):
            var = el.get("iteratorVariable", "")
            if not var:
                return self.fail(where, f"<{kind}> has no iteratorVariable")
            source = self.child_expression(el, "in", where, names)
            inner = names | {var, "partial"}
            part = "return" if kind == "for" else "satisfies"
            body = self.child_expression(el, part, where, inner)
            return B.Iterator(kind, var, source, body, t)
        if kind == "filter":
            source = self.child_expression(el, "in", where, names)
            match = self.child_expression(el, "match", where, names | {"item"})
            return B.Filter(source, match, t)
        return self.fail(where, f"<{kind}> is not a supported expression")

    def function_body(
        self, fn: Element, where: str, names: frozenset[str], params: list[tuple[str, DmnType]]
    ) -> B.Expr:
        """The logic of a function definition; kind Java: a call of the method it names."""
        kind = (fn.get("kind") or "FEEL").upper()
        body_el = _logic(fn)
        body = B.Empty() if body_el is None else self.expression(body_el, where, names)
        if kind == "JAVA":
            return B.JavaCall(body, [p for p, _ in params])
        if kind != "FEEL":
            return self.fail(where, f"functions of kind {fn.get('kind')} are not supported")
        return body

    def child_expression(self, el: Element, part: str, where: str, names: frozenset[str]):
        holder = child(el, part)
        inner = _logic(holder) if holder is not None else None
        if inner is None:
            return self.fail(where, f"<{local(el)}> has no <{part}> expression")
        return self.expression(inner, where, names)

    def feel(self, text: str | None, where: str, names: frozenset[str]):
        """Compile FEEL text; (compiled, None) or (None, failing expression)."""
        if text is None:
            return None, self.fail(where, "expression has no text")
        try:
            return compile_feel(text, names), None
        except FeelError as exc:
            return None, self.fail(where, f"invalid FEEL: {exc}")

    def literal(self, el: Element, where: str, names: frozenset[str], t: DmnType) -> B.Expr:
        if not _feel_language(el.get("expressionLanguage") or self.language):
            lang = el.get("expressionLanguage") or self.language
            return self.fail(where, f"expression language {lang} is not supported (only FEEL)")
        text = _text(child(el, "text"))
        if text is None or not text.strip():
            return B.Empty()
        compiled, failed = self.feel(text, where, names)
        return failed if compiled is None else B.Literal(compiled, t)

    def context(self, el: Element, where: str, names: frozenset[str], t: DmnType) -> B.Expr:
        entries: list[tuple[str, DmnType, B.Expr]] = []
        result: B.Expr | None = None
        scope = set(names)
        for entry in children(el, "contextEntry"):
            var = child(entry, "variable")
            logic = _logic(entry)
            if var is None:
                result = (
                    B.Empty() if logic is None else self.expression(logic, where, frozenset(scope))
                )
                continue
            name = _name(var)
            value = B.Empty() if logic is None else self.expression(logic, where, frozenset(scope))
            entries.append((name, self.type_ref(var.get("typeRef")), value))
            scope.add(name)
        return B.Context(entries, result, t)

    def relation(self, el: Element, where: str, names: frozenset[str], t: DmnType) -> B.Expr:
        columns = [(_name(c), self.type_ref(c.get("typeRef"))) for c in children(el, "column")]
        rows = []
        for n, row in enumerate(children(el, "row"), 1):
            cells = [self.expression(c, where, names) for c in row if local(c) in BOXED]
            if len(cells) != len(columns):
                return self.fail(
                    where, f"relation row {n} has {len(cells)} cells for {len(columns)} columns"
                )
            rows.append(cells)
        return B.Relation(columns, rows, t)

    def invocation(self, el: Element, where: str, names: frozenset[str], t: DmnType) -> B.Expr:
        callee_el = _logic(el)
        if callee_el is None or local(callee_el) != "literalExpression":
            return self.fail(where, "invocation names no function")
        compiled, failed = self.feel(_text(child(callee_el, "text")), where, names)
        if compiled is None:
            return failed
        bindings = []
        for b in children(el, "binding"):
            param = child(b, "parameter")
            if param is None:
                return self.fail(where, "invocation binding without a parameter")
            logic = _logic(b)
            value = B.Empty() if logic is None else self.expression(logic, where, names)
            bindings.append((_name(param), value))
        return B.Invocation(compiled, bindings, t)

    def table(self, el: Element, where: str, names: frozenset[str], t: DmnType) -> B.Expr:
        policy_text = (el.get("hitPolicy") or "UNIQUE").strip().upper()
        policy = HIT_POLICIES.get(policy_text)
        if policy is None:
            return self.fail(where, f"unknown hit policy '{policy_text}'")
        aggregation = el.get("aggregation")
        if aggregation is not None:
            aggregation = aggregation.strip().upper()
            if aggregation not in AGGREGATIONS:
                return self.fail(where, f"unknown aggregation '{aggregation}'")
            if policy != "COLLECT":
                return self.fail(where, f"aggregation {aggregation} needs hit policy COLLECT")
        inputs: list[Input] = []
        for n, inp in enumerate(children(el, "input"), 1):
            w = f"{where} input {n}"
            expr_el = child(inp, "inputExpression")
            text = _text(child(expr_el, "text")) if expr_el is not None else None
            compiled, failed = self.feel(text, w, names)
            if compiled is None:
                return failed
            variable = extension_attr(inp, "inputVariable")
            inputs.append(
                Input(
                    inp.get("id", ""),
                    inp.get("label") or text or "",
                    compiled,
                    self.tests(child(inp, "inputValues"), f"{w} inputValues", names),
                    variable,
                )
            )
        outputs: list[Output] = []
        out_els = list(children(el, "output"))
        for n, out in enumerate(out_els, 1):
            w = f"{where} output {n}"
            values = self.tests(child(out, "outputValues"), f"{w} outputValues", names)
            default = None
            default_el = child(out, "defaultOutputEntry")
            if default_el is not None:
                dtext = _text(child(default_el, "text"))
                if dtext is not None and dtext.strip():
                    default, failed = self.feel(dtext, f"{w} defaultOutputEntry", names)
                    if default is None:
                        return failed
            name = out.get("name") or ""
            if len(out_els) > 1 and not name:
                return self.fail(w, "an output of a table with several outputs needs a name")
            outputs.append(
                Output(
                    out.get("id", ""),
                    name,
                    self.type_ref(out.get("typeRef")),
                    values,
                    values.parts() if values is not None else [],
                    default,
                )
            )
        if not outputs:
            return self.fail(where, "decision table has no output")
        cell_names = names | {i.variable for i in inputs if i.variable} | {"cellInput"}
        rules: list[Rule] = []
        for n, rule in enumerate(children(el, "rule"), 1):
            w = f"{where} rule {n}"
            entries = list(children(rule, "inputEntry"))
            outs = list(children(rule, "outputEntry"))
            if len(entries) != len(inputs):
                return self.fail(w, f"has {len(entries)} input entries for {len(inputs)} inputs")
            if len(outs) != len(outputs):
                return self.fail(w, f"has {len(outs)} output entries for {len(outputs)} outputs")
            tests = []
            for i, entry in enumerate(entries):
                text = _text(child(entry, "text")) or "-"
                try:
                    compiled_tests = compile_unary_tests(text, cell_names)
                except FeelError as exc:
                    return self.fail(f"{w} input entry {i + 1}", f"invalid unary tests: {exc}")
                if inputs[i].variable is None and "cellInput" in text:
                    inputs[i].variable = "cellInput"
                if not compiled_tests.any:
                    tests.append((i, compiled_tests))
            out_exprs = []
            for i, entry in enumerate(outs):
                text = _text(child(entry, "text"))
                if text is None or not text.strip():
                    text = "null"
                compiled, failed = self.feel(text, f"{w} output entry {i + 1}", names)
                if compiled is None:
                    return failed
                out_exprs.append(compiled)
            rules.append(Rule(rule.get("id", ""), n, tests, out_exprs))
        return DecisionTable(inputs, outputs, rules, policy, aggregation, t)


# ---------------------------------------------------------------- small helpers


def _name(el: Element) -> str:
    name = el.get("name")
    if name is None:
        var = child(el, "variable")
        if var is not None:
            name = var.get("name")
    return name if name is not None else el.get("id", "")


def _text(el: Element | None) -> str | None:
    if el is None:
        return None
    return el.text or ""


def _logic(el: Element | None) -> Element | None:
    """The (single) boxed expression child of an element."""
    if el is None:
        return None
    for c in el:
        if local(c) in BOXED:
            return c
    return None


def _version_tag(el: Element) -> str | None:
    tag = extension_attr(el, "versionTag")
    if tag is not None:
        return tag
    ext = child(el, "extensionElements")
    if ext is not None:
        for c in ext:
            if local(c) == "versionTag" and c.get("value"):
                return c.get("value")
    return None
