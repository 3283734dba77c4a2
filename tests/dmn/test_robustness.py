"""Hostile and broken models: reading refuses with BadRequest (or TooLarge), evaluating fails
with DecisionError, NotFound or BadRequest; nothing else ever escapes (no crash of the
caller, no 500). Hypothesis mutates valid models: elements dropped or doubled, texts and
attributes replaced by FEEL-ish junk."""

from __future__ import annotations

import os
import random
from xml.etree import ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zennode import dmn
from zennode.errors import ZennodeError
from zennode.feel import FeelError
from zennode.tools import bench_dmn

from .helpers import bkm, decision, definitions, input_data, literal, table

EXAMPLES = int(os.environ.get("ZENNODE_FUZZ_EXAMPLES", "150"))

SEEDS = [
    bench_dmn.table_model(),
    definitions(
        '<itemDefinition name="tP"><itemComponent name="a"><typeRef>number</typeRef>'
        "</itemComponent></itemDefinition>"
        + input_data("x", "tP")
        + bkm("f", ["n:number"], literal("n * 2"))
        + decision("inner", literal("f(x.a)"), inputs=("x",), knowledge=("f",))
        + decision(
            "outer",
            table(
                ["inner"],
                ["r", "s"],
                [(["> 1"], ['"big"', "1"]), (["<= 1"], ['"small"', "2"])],
                "PRIORITY",
                output_values={0: '"big", "small"'},
            ),
            decisions=("inner",),
        )
        + '<decisionService id="svc" name="svc"><variable name="svc"/>'
        '<outputDecision href="#outer"/><inputData href="#x"/></decisionService>'
    ),
]

JUNK = [
    "",
    "-",
    "1 +",
    "[1..",
    "?",
    "null",
    '"x"',
    "not(",
    "a.b.c",
    "function(x) x",
    "{a: 1}",
    "for i in 1..100000000 return i",
    "every x in [] satisfies x",
    'date("2020-13-45")',
    "𝔘",
    "\u2028",
    "1/0",
    "[1,2][3]",
    "]1..2[",
    "tP",
    "#outer",
    "#nowhere",
    "urn:x#y",
    "UNIQUE",
    "COLLECT",
    "SUM",
    "true",
    "list<number>",
    "context<a: number>",
    "99999999999999999999999999999999999999",
    "- -",
    "?.a",
    "f(f(f(1)))",
]


def mutate(data: bytes, rnd: random.Random) -> bytes:
    root = ET.fromstring(data)
    nodes = list(root.iter())
    for _ in range(rnd.randint(1, 4)):
        el = rnd.choice(nodes)
        action = rnd.randrange(5)
        if action == 0 and el.text is not None:
            el.text = rnd.choice(JUNK)
        elif action == 1 and el.attrib:
            key = rnd.choice(sorted(el.attrib))
            el.attrib[key] = rnd.choice(JUNK)
        elif action == 2:
            parent = next((p for p in nodes if el in list(p)), None)
            if parent is not None:
                parent.remove(el)
        elif action == 3:
            parent = next((p for p in nodes if el in list(p)), None)
            if parent is not None:
                parent.append(el)  # the same element twice
        else:
            ET.SubElement(el, el.tag.split("}")[0] + "}" + rnd.choice(["text", "rule", "input"]))
    return ET.tostring(root)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    which=st.integers(0, len(SEEDS) - 1),
    lenient=st.booleans(),
    value=st.sampled_from([None, 1, "x", [1], {"a": 2}, True, 2.5]),
)
def test_mutated_models_fail_only_in_the_ways_callers_handle(
    seed: int, which: int, lenient: bool, value: object
) -> None:
    data = mutate(SEEDS[which], random.Random(seed))
    try:
        defs = dmn.parse_dmn(data, lenient=lenient)
    except ZennodeError:
        return
    variables = {"x": value, "category": value, "amount": value, "member": value}
    for d in defs.decisions:
        try:
            result = dmn.evaluate(defs, d.id, variables)
            result.to_json()
        except (dmn.DecisionError, ZennodeError):
            pass
    for s in defs.decision_services:
        try:
            dmn.evaluate_service(defs, s.id, variables).to_json()
        except (dmn.DecisionError, ZennodeError):
            pass


def test_a_runaway_model_is_stopped_by_the_feel_budget() -> None:
    defs = dmn.parse_dmn(
        definitions(
            bkm("loop", ["n"], literal("loop(n + 1)"))
            + decision("d", literal("loop(1)"), knowledge=("loop",))
            + decision("big", literal("for i in 1..1000 return for j in 1..1000 return i"))
        )
    )
    for name in ("d", "big"):
        try:
            dmn.evaluate(defs, name)
        except dmn.DecisionError as exc:
            assert isinstance(exc, FeelError) and exc.decision_id == name
        else:
            raise AssertionError(f"{name} ran without bound")
