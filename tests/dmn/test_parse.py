"""Reading DMN documents: every version's namespace, modeler conventions, and refusals that
name the element at fault."""

from __future__ import annotations

from decimal import Decimal

import pytest

from zennode import dmn
from zennode.dmn.xml import XML_BYTES_MAX, XML_DEPTH_MAX
from zennode.errors import BadRequest, TooLarge

from .helpers import decision, definitions, input_data, literal, table

CAMUNDA_7 = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/DMN/20151101/dmn.xsd"
    xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="dish" name="Dish"
    namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="dish" name="Dish" camunda:versionTag="v2">
    <decisionTable id="t" hitPolicy="FIRST">
      <input id="season" label="Season" camunda:inputVariable="s">
        <inputExpression id="e1" typeRef="string"><text>season</text></inputExpression>
      </input>
      <input id="guests" label="Guests">
        <inputExpression id="e2" typeRef="integer"><text>guestCount</text></inputExpression>
      </input>
      <output id="o" label="Dish" name="desiredDish" typeRef="string"/>
      <rule id="r1">
        <inputEntry id="a"><text>s = "Winter" or s = "Fall"</text></inputEntry>
        <inputEntry id="b"><text>&lt;= cellInput</text></inputEntry>
        <outputEntry id="c"><text>"Roastbeef"</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="d"><text>"Summer"</text></inputEntry>
        <inputEntry id="e"><text></text></inputEntry>
        <outputEntry id="f"><text>"Salad"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"""


def test_a_dmn_1_1_camunda_7_table_with_input_variables() -> None:
    defs = dmn.parse_dmn(CAMUNDA_7)
    assert defs.dmn_version == "1.1"
    assert defs.decisions[0].version_tag == "v2"
    assert dmn.evaluate(defs, "dish", {"season": "Fall", "guestCount": 4}).output == "Roastbeef"
    assert dmn.evaluate(defs, "dish", {"season": "Summer", "guestCount": 4}).output == "Salad"


@pytest.mark.parametrize(
    ("namespace", "version"),
    [
        ("http://www.omg.org/spec/DMN/20151101/dmn.xsd", "1.1"),
        ("http://www.omg.org/spec/DMN/20180521/MODEL/", "1.2"),
        ("https://www.omg.org/spec/DMN/20191111/MODEL/", "1.3"),
        ("https://www.omg.org/spec/DMN/20211108/MODEL/", "1.4"),
        ("https://www.omg.org/spec/DMN/20230324/MODEL/", "1.5"),
    ],
)
def test_every_dmn_version_is_read(namespace: str, version: str) -> None:
    defs = dmn.parse_dmn(definitions(decision("d", literal("1 + 1")), ns=namespace))
    assert defs.dmn_version == version
    assert dmn.evaluate(defs, "d").output == Decimal(2)


def test_dmn_1_1_qualified_type_references() -> None:
    body = (
        '<itemDefinition name="tAge"><typeRef>feel:number</typeRef></itemDefinition>'
        + input_data("age", "tns:tAge")
        + decision("d", literal("age"), inputs=("age",), type_ref="feel:number")
    )
    defs = dmn.parse_dmn(definitions(body, ns="http://www.omg.org/spec/DMN/20151101/dmn.xsd"))
    assert dmn.evaluate(defs, "d", {"age": "x"}).output is None
    assert dmn.evaluate(defs, "d", {"age": 3}).output == Decimal(3)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (decision("d", literal("1 +")), "decision 'd': invalid FEEL"),
        (
            decision("d", table(["x"], ["r"], [(["> 1", "2"], ["1"])])),
            "decision 'd' rule 1: has 2 input entries for 1 inputs",
        ),
        (
            decision(
                "d",
                table(
                    ["x"],
                    ["r"],
                    [
                        (
                            [
                                "[1..",
                            ],
                            ["1"],
                        )
                    ],
                ),
            ),
            "decision 'd' rule 1 input entry 1: invalid unary tests",
        ),
        (decision("d", literal("1"), decisions=("ghost",)), "requires 'ghost'"),
        (
            decision("a", literal("b"), decisions=("b",))
            + decision("b", literal("a"), decisions=("a",)),
            "cycle: a -> b -> a",
        ),
        (
            decision("d", table(["x"], ["r"], [(["1"], ["1"])], hit_policy="SOMETIMES")),
            "unknown hit policy",
        ),
        (
            decision("d", table(["x"], ["r"], [(["1"], ["1"])], "FIRST", aggregation="SUM")),
            "aggregation SUM needs hit policy COLLECT",
        ),
        (
            decision(
                "d",
                '<literalExpression expressionLanguage="juel"><text>1</text></literalExpression>',
            ),
            "expression language juel is not supported",
        ),
        (decision("d", literal("1")) + decision("d", literal("2")), "two elements have the id"),
    ],
)
def test_a_bad_model_is_refused_naming_the_element(body: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace("[", r"\[")):
        dmn.parse_dmn(definitions(body))


def test_lenient_reading_keeps_the_rest_of_the_model_usable() -> None:
    defs = dmn.parse_dmn(
        definitions(decision("bad", literal("1 +")) + decision("good", literal("2"))),
        lenient=True,
    )
    assert defs.problems and "decision 'bad'" in defs.problems[0]
    assert dmn.evaluate(defs, "good").output == Decimal(2)
    with pytest.raises(dmn.DecisionError, match="invalid FEEL"):
        dmn.evaluate(defs, "bad")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<definitions",
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>',
        b'<!DOCTYPE d SYSTEM "file:///etc/passwd"><d/>',
    ],
)
def test_what_is_not_a_safe_dmn_document_is_refused(data: bytes) -> None:
    with pytest.raises(BadRequest):
        dmn.parse_dmn(data)


def test_size_and_depth_limits() -> None:
    with pytest.raises(TooLarge):
        dmn.parse_dmn(b" " * (XML_BYTES_MAX + 1))
    deep = b"<a>" * (XML_DEPTH_MAX + 1) + b"</a>" * (XML_DEPTH_MAX + 1)
    with pytest.raises(BadRequest, match="deeper"):
        dmn.parse_dmn(deep)
    with pytest.raises(BadRequest, match="bytes"):
        dmn.parse_dmn("<definitions/>")  # type: ignore[arg-type]


def test_variables_must_be_a_mapping() -> None:
    defs = dmn.parse_dmn(definitions(decision("d", literal("1"))))
    with pytest.raises(BadRequest):
        dmn.evaluate(defs, "d", [1, 2])  # type: ignore[arg-type]
