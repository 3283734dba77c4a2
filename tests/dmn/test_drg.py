"""Decision requirement graphs: required decisions once and in order, knowledge models,
decision services, imports, boxed expressions, and errors that name the decision."""

from __future__ import annotations

from decimal import Decimal

import pytest

from zennode import dmn
from zennode.errors import BadRequest, NotFound

from .helpers import bkm, decision, definitions, input_data, literal, table


def test_required_decisions_are_evaluated_once_in_requirement_order() -> None:
    defs = dmn.parse_dmn(
        definitions(
            input_data("amount", "number")
            + decision("base", literal("amount * 2"), inputs=("amount",))
            + decision("tax", literal("base * 0.1"), decisions=("base",))
            + decision("total", literal("base + tax"), decisions=("base", "tax"))
        )
    )
    result = dmn.evaluate(defs, "total", {"amount": 50})
    assert result.output == Decimal(110)
    assert [e.decision_id for e in result.evaluated] == ["base", "tax", "total"]
    assert result.to_json()["evaluatedDecisions"][0] == {
        "decisionId": "base",
        "decisionName": "base",
        "decisionType": "LITERAL_EXPRESSION",
        "output": 100,
    }


def test_a_decision_is_found_by_id_or_by_name_and_unknown_ones_are_not_found() -> None:
    defs = dmn.parse_dmn(definitions(decision("Loan Rate", literal("0.05"), id_="rate")))
    assert dmn.evaluate(defs, "rate").output == Decimal("0.05")
    assert dmn.evaluate(defs, "Loan Rate").decision_id == "rate"
    with pytest.raises(NotFound):
        dmn.evaluate(defs, "nope")


def test_input_data_are_converted_to_their_type() -> None:
    defs = dmn.parse_dmn(
        definitions(
            '<itemDefinition name="tScore"><typeRef>number</typeRef>'
            "<allowedValues><text>[0..100]</text></allowedValues></itemDefinition>"
            + input_data("score", "tScore")
            + input_data("tags", "list<string>")
            + decision("echo", literal("[score, tags]"), inputs=("score", "tags"))
        )
    )
    assert dmn.evaluate(defs, "echo", {"score": [42], "tags": "x"}).output == [
        Decimal(42),
        ["x"],
    ]
    assert dmn.evaluate(defs, "echo", {"score": 101, "tags": [1]}).output == [None, None]


def test_camunda_style_decisions_read_the_callers_variables_directly() -> None:
    defs = dmn.parse_dmn(
        definitions(decision("d", literal('order-id + ":" + customer.name')), ns=dmn_13())
    )
    variables = {"order-id": "A1", "customer": {"name": "Ann"}}
    assert dmn.evaluate(defs, "d", variables).output == "A1:Ann"


def dmn_13() -> str:
    return "https://www.omg.org/spec/DMN/20191111/MODEL/"


def test_business_knowledge_models_are_functions_and_may_recurse() -> None:
    defs = dmn.parse_dmn(
        definitions(
            bkm("fact", ["n:number"], literal("if n <= 1 then 1 else n * fact(n - 1)"))
            + bkm("double fact", ["n"], literal("2 * fact(n)"), knowledge=("fact",))
            + decision("d", literal("double fact(5)"), knowledge=("double fact",))
        )
    )
    assert dmn.evaluate(defs, "d").output == Decimal(240)


def test_a_decision_table_in_a_bkm_reads_its_parameters() -> None:
    tbl = table(["age"], ["r"], [(["< 18"], ['"minor"']), ([">= 18"], ['"adult"'])])
    defs = dmn.parse_dmn(
        definitions(
            bkm("classify", ["age"], tbl)
            + input_data("people")
            + decision(
                "d",
                literal("for p in people return classify(p.age)"),
                inputs=("people",),
                knowledge=("classify",),
            )
        )
    )
    result = dmn.evaluate(defs, "d", {"people": [{"age": 3}, {"age": 30}]})
    assert result.output == ["minor", "adult"]


def test_invocation_binds_parameters_by_name_and_a_wrong_name_is_an_error() -> None:
    invocation = (
        "<invocation>{callee}<binding><parameter name='{param}'/>{value}</binding></invocation>"
    )
    body = bkm("greet", ["who:string"], literal('"Hello " + who'))
    good = invocation.format(callee=literal("greet"), param="who", value=literal('"Ann"'))
    defs = dmn.parse_dmn(definitions(body + decision("d", good, knowledge=("greet",))))
    assert dmn.evaluate(defs, "d").output == "Hello Ann"
    bad = invocation.format(callee=literal("greet"), param="whom", value=literal('"Ann"'))
    defs = dmn.parse_dmn(definitions(body + decision("d", bad, knowledge=("greet",))))
    with pytest.raises(dmn.DecisionError, match="whom"):
        dmn.evaluate(defs, "d")


def test_a_non_conforming_argument_makes_the_invocation_null() -> None:
    defs = dmn.parse_dmn(
        definitions(
            bkm("inc", ["n:number"], literal("n + 1"))
            + decision("d", literal('[inc(1), inc("x"), inc([2])]'), knowledge=("inc",))
        )
    )
    assert dmn.evaluate(defs, "d").output == [Decimal(2), None, Decimal(3)]


BOXED = {
    "context": (
        "<context>"
        "<contextEntry><variable name='a'/>" + literal("2") + "</contextEntry>"
        "<contextEntry><variable name='b'/>" + literal("a * 3") + "</contextEntry>"
        "</context>",
        {"a": Decimal(2), "b": Decimal(6)},
    ),
    "context with a result entry": (
        "<context>"
        "<contextEntry><variable name='a'/>" + literal("2") + "</contextEntry>"
        "<contextEntry>" + literal("a + 1") + "</contextEntry>"
        "</context>",
        Decimal(3),
    ),
    "list": ("<list>" + literal("1") + literal('"x"') + "</list>", [Decimal(1), "x"]),
    "relation": (
        "<relation><column name='n'/><column name='sq'/>"
        "<row>" + literal("1") + literal("1") + "</row>"
        "<row>" + literal("2") + literal("4") + "</row></relation>",
        [{"n": Decimal(1), "sq": Decimal(1)}, {"n": Decimal(2), "sq": Decimal(4)}],
    ),
    "function definition": (
        "<context><contextEntry><variable name='sq'/>"
        "<functionDefinition><formalParameter name='x' typeRef='number'/>"
        + literal("x * x")
        + "</functionDefinition></contextEntry>"
        "<contextEntry>" + literal("sq(7)") + "</contextEntry></context>",
        Decimal(49),
    ),
    "conditional": (
        "<conditional><if>" + literal("1 > 2") + "</if><then>" + literal('"yes"') + "</then>"
        "<else>" + literal('"no"') + "</else></conditional>",
        "no",
    ),
    "for": (
        "<for iteratorVariable='i'><in>" + literal("[1, 2, 3]") + "</in>"
        "<return>" + literal("i * 10") + "</return></for>",
        [Decimal(10), Decimal(20), Decimal(30)],
    ),
    "some": (
        "<some iteratorVariable='i'><in>" + literal("[1, 2, 3]") + "</in>"
        "<satisfies>" + literal("i > 2") + "</satisfies></some>",
        True,
    ),
    "every": (
        "<every iteratorVariable='i'><in>" + literal("[1, 2, 3]") + "</in>"
        "<satisfies>" + literal("i > 2") + "</satisfies></every>",
        False,
    ),
    "filter": (
        "<filter><in>" + literal('[{n: 1, c: "a"}, {n: 5, c: "b"}]') + "</in>"
        "<match>" + literal("n > 2") + "</match></filter>",
        [{"n": Decimal(5), "c": "b"}],
    ),
}


@pytest.mark.parametrize("kind", sorted(BOXED))
def test_boxed_expressions(kind: str) -> None:
    logic, expected = BOXED[kind]
    defs = dmn.parse_dmn(definitions(decision("d", logic)))
    assert dmn.evaluate(defs, "d").output == expected


def test_context_entries_are_converted_to_their_types() -> None:
    logic = (
        "<context><contextEntry><variable name='n' typeRef='number'/>"
        + literal('"not a number"')
        + "</contextEntry><contextEntry><variable name='one' typeRef='string'/>"
        + literal('["x"]')
        + "</contextEntry></context>"
    )
    defs = dmn.parse_dmn(definitions(decision("d", logic)))
    assert dmn.evaluate(defs, "d").output == {"n": None, "one": "x"}


SERVICE = (
    input_data("a", "number")
    + input_data("b", "number")
    + decision("sum", literal("a + b"), inputs=("a", "b"))
    + decision("doubled", literal("sum * 2"), decisions=("sum",))
    + decision("label", literal('"total " + string(doubled)'), decisions=("doubled",))
    + '<decisionService id="calc" name="calc"><variable name="calc"/>'
    '<outputDecision href="#label"/><outputDecision href="#doubled"/>'
    '<encapsulatedDecision href="#sum"/>'
    '<inputData href="#a"/><inputData href="#b"/></decisionService>'
    + '<decisionService id="from sum" name="from sum"><variable name="from sum"/>'
    '<outputDecision href="#doubled"/><inputDecision href="#sum"/></decisionService>'
)


def test_a_decision_service_invoked_directly() -> None:
    defs = dmn.parse_dmn(definitions(SERVICE))
    result = dmn.evaluate_service(defs, "calc", {"a": 1, "b": 2})
    assert result.output == {"label": "total 6", "doubled": Decimal(6)}
    assert dmn.evaluate_service(defs, "from sum", {"sum": 10}).output == Decimal(20)


def test_a_decision_service_is_a_function_of_its_input_data_then_input_decisions() -> None:
    defs = dmn.parse_dmn(
        definitions(
            SERVICE
            + decision(
                "use",
                literal("[calc(1, 2).doubled, calc(b: 5, a: 5).label, from sum(4)]"),
                knowledge=("calc", "from sum"),
            )
        )
    )
    assert dmn.evaluate(defs, "use").output == [Decimal(6), "total 20", Decimal(8)]


def test_an_imported_model_is_reached_through_its_import_name() -> None:
    base = dmn.parse_dmn(
        definitions(
            '<itemDefinition name="tPerson"><itemComponent name="name"><typeRef>string'
            "</typeRef></itemComponent><itemComponent name='age'><typeRef>number</typeRef>"
            "</itemComponent></itemDefinition>"
            + input_data("person", "tPerson")
            + decision("greeting", literal('"Hi " + person.name'), inputs=("person",))
            + bkm("older", ["p:tPerson"], literal("p.age + 1")),
            namespace="urn:base",
            name="base",
        )
    )
    importing = definitions(
        '<import name="people" namespace="urn:base" '
        'importType="https://www.omg.org/spec/DMN/20230324/MODEL/"/>'
        + input_data("local", "people.tPerson")
        + '<decision id="d" name="d"><variable name="d"/>'
        '<informationRequirement><requiredDecision href="urn:base#greeting"/>'
        "</informationRequirement>"
        '<informationRequirement><requiredInput href="#local"/></informationRequirement>'
        '<knowledgeRequirement><requiredKnowledge href="urn:base#older"/>'
        "</knowledgeRequirement>"
        + literal('people.greeting + " / " + string(people.older(local))')
        + "</decision>",
        namespace="urn:main",
    )
    with pytest.raises(BadRequest, match="import 'people'"):
        dmn.parse_dmn(importing)
    defs = dmn.parse_dmn(importing, [base])
    variables = {"people": {"person": {"name": "Ann", "age": 3}}, "local": {"name": "B", "age": 9}}
    assert dmn.evaluate(defs, "d", variables).output == "Hi Ann / 10"


def test_given_decisions_stand_for_required_ones_only_when_asked() -> None:
    defs = dmn.parse_dmn(
        definitions(
            decision("inner", literal("1"))
            + decision("outer", literal("inner + 1"), decisions=("inner",))
        )
    )
    assert dmn.evaluate(defs, "outer", {"inner": 41}).output == Decimal(2)
    assert dmn.evaluate(defs, "outer", {"inner": 41}, given_decisions=True).output == 42


def test_a_failing_required_decision_is_the_one_named() -> None:
    defs = dmn.parse_dmn(
        definitions(
            decision("inner", table(["1"], ["r"], [(["1"], ["1"]), (["1"], ["2"])]))
            + decision("outer", literal("inner + 1"), decisions=("inner",))
        )
    )
    with pytest.raises(dmn.DecisionError) as err:
        dmn.evaluate(defs, "outer")
    assert err.value.decision_id == "inner"
    assert "UNIQUE" in str(err.value)


def test_now_is_the_callers_instant_and_absent_otherwise() -> None:
    import datetime as dt

    defs = dmn.parse_dmn(definitions(decision("d", literal("today()"))))
    assert dmn.evaluate(defs, "d").output is None
    now = dt.datetime(2024, 5, 6, 7, 8, tzinfo=dt.UTC)
    assert dmn.evaluate(defs, "d", now=now).output == dt.date(2024, 5, 6)


def test_a_required_decision_is_named_by_its_name_and_by_its_id() -> None:
    defs = dmn.parse_dmn(
        definitions(
            decision("Base Rate", literal("2"), id_="base-rate")
            + decision("Other", literal("3"), id_="Base Rate")  # an id equal to a name
            + decision("d", literal("[Base Rate, base-rate]"), decisions=("base-rate", "Base Rate"))
        )
    )
    # the name wins over another decision's id
    assert dmn.evaluate(defs, "d").output == [Decimal(2), Decimal(2)]
