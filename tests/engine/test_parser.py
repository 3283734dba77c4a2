"""Parsing: safe XML, unsupported elements named one by one, broken models rejected."""

from __future__ import annotations

import time

import pytest
from support.bpmn import HEAD, bpmn, chain, end, error, error_end, flow, gateway, service, start

from zennode.engine import Engine, model
from zennode.engine.parser import XML_BYTES_MAX, parse_definitions
from zennode.errors import BadRequest, TooLarge


def parse(xml: str) -> model.Definitions:
    return parse_definitions(xml.encode())


def rejected(xml: str) -> str:
    with pytest.raises(BadRequest) as info:
        parse(xml)
    return info.value.message


def test_model_has_elements_flows_defaults_and_extensions() -> None:
    xml = bpmn(
        start()
        + gateway("g", default="f_def")
        + service("t", "work", inputs={"a": "=x"}, outputs={"b": "lit"}, headers={"k": "v"})
        + end()
        + flow("f0", "start", "g")
        + flow("f_c", "g", "t", "=x > 1")
        + flow("f_def", "g", "end")
        + chain("t", "end")
    )
    [process] = parse(xml).processes
    assert process.bpmn_process_id == "p" and process.start == "start"
    g = process.elements["g"]
    assert (g.kind, g.default_flow, g.outgoing) == (model.EXCLUSIVE, "f_def", ("f_c", "f_def"))
    t = process.elements["t"]
    assert t.kind == model.JOB_TASK and t.bpmn_type == "serviceTask"
    assert t.task is not None and t.task.job_type.source == "work" and not t.task.job_type.is_feel
    assert t.task.headers == (("k", "v"),)
    assert t.inputs[0].source.is_feel and t.inputs[0].target == "a"
    assert not t.outputs[0].source.is_feel
    assert process.flows["f_c"].condition is not None


def test_every_unsupported_element_is_named_with_its_type() -> None:
    body = (
        start() + '<bpmn:intermediateCatchEvent id="Sig_1"><bpmn:conditionalEventDefinition/>'
        "</bpmn:intermediateCatchEvent>"
        + '<bpmn:complexGateway id="Cx_2"/>'
        + '<bpmn:businessRuleTask id="Bare"/>'
        + '<bpmn:userTask id="Loop"><bpmn:standardLoopCharacteristics/></bpmn:userTask>'
        + '<bpmn:userTask id="Multi"><bpmn:multiInstanceLoopCharacteristics/></bpmn:userTask>'
        + end()
        + chain("start", "end")
    )
    message = rejected(bpmn(body))
    assert message.startswith("unsupported elements: ")
    for part in (
        "Sig_1 (intermediateCatchEvent/conditional)",
        "Cx_2 (complexGateway)",
        "Bare (businessRuleTask/no taskDefinition)",
        "Loop (userTask/loop)",
        "Multi (userTask/multiInstance without inputCollection)",
    ):
        assert part in message


def test_non_feel_condition_is_unsupported_and_bad_feel_is_rejected() -> None:
    body = start() + gateway("g") + end() + flow("f0", "start", "g")
    message = rejected(bpmn(body + flow("f1", "g", "end", "order == true")))
    assert "f1 (sequenceFlow/condition not FEEL" in message
    message = rejected(bpmn(body + flow("f1", "g", "end", "=x >")))
    assert "condition of f1" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (end(), "no none start event"),
        (start() + start("s2") + end() + chain("start", "end"), "more than one none start event"),
        (start() + end() + flow("f", "start", "ghost"), "unknown target 'ghost'"),
        (start() + start() + end(), "duplicate id start"),
        (
            start() + gateway("g", default="f_x") + end() + chain("start", "g", "end"),
            "default flow f_x",
        ),
        (start() + error_end("e", "Nope") + chain("start", "e"), "unknown error Nope"),
        (
            start()
            + service("t", "w")
            + end()
            + flow("f", "start", "t", "=true")
            + chain("t", "end"),
            "leaves no gateway",
        ),
        (
            start()
            + '<bpmn:subProcess id="sp"><bpmn:startEvent id="in"/></bpmn:subProcess>'
            + end()
            + flow("f", "in", "end"),
            "crosses a sub-process boundary",
        ),
    ],
)
def test_structurally_broken_models_are_rejected(body: str, expected: str) -> None:
    assert expected in rejected(bpmn(body, errors=error("Known", "k")))


def test_not_bpmn_and_not_xml_are_rejected() -> None:
    assert "not well-formed" in rejected("<a><b></a>")
    assert "root is not bpmn:definitions" in rejected("<definitions/>")
    assert "no process" in rejected(HEAD + "</bpmn:definitions>")
    rejected("")


def test_external_entities_and_dtds_are_refused() -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'>&x;"
        "</bpmn:definitions>"
    )
    assert "refused" in rejected(xxe)


def test_entity_expansion_bomb_is_refused_quickly() -> None:
    entities = '<!ENTITY a "' + "x" * 100 + '">'
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        entities += f'<!ENTITY {chr(ord("a") + i)} "' + f"&{prev};" * 10 + '">'
    bomb = f'<?xml version="1.0"?><!DOCTYPE d [{entities}]><d>&j;</d>'
    began = time.monotonic()
    assert "refused" in rejected(bomb)
    assert time.monotonic() - began < 1.0


def test_size_and_depth_limits() -> None:
    with pytest.raises(TooLarge):
        parse_definitions(b" " * (XML_BYTES_MAX + 1))
    deep = HEAD + "<bpmn:documentation>" * 10_000 + "</bpmn:documentation>" * 10_000
    assert "deeper than" in rejected(deep + "</bpmn:definitions>")


def test_ignored_artifacts_do_not_block_deploy() -> None:
    body = (
        start()
        + "<bpmn:documentation>hello</bpmn:documentation>"
        + '<bpmn:laneSet id="ls"><bpmn:lane id="l"/></bpmn:laneSet>'
        + '<bpmn:textAnnotation id="ta"><bpmn:text>note</bpmn:text></bpmn:textAnnotation>'
        + '<bpmn:association id="as" sourceRef="ta" targetRef="start"/>'
        + '<bpmn:dataObjectReference id="dor" dataObjectRef="do"/><bpmn:dataObject id="do"/>'
        + end()
        + chain("start", "end")
    )
    xml = bpmn(body).replace(
        "</bpmn:definitions>",
        '<bpmn:collaboration id="c"><bpmn:participant id="pa" processRef="p"/>'
        "</bpmn:collaboration></bpmn:definitions>",
    )
    assert [p.bpmn_process_id for p in parse(xml).processes] == ["p"]


def test_validate_deploy_parses_without_state() -> None:
    definitions = Engine(1).validate_deploy(bpmn(start() + end() + chain("start", "end")), 0)
    assert definitions.processes[0].bpmn_process_id == "p"
    with pytest.raises(BadRequest):
        Engine(1).validate_deploy(b"<nope/>", 0)


def test_many_inclusive_joins_are_analysed_in_bounded_time() -> None:
    # a long chain of inclusive joins, each with two incoming flows from the previous one
    parts = [start(), gateway("g0", "inclusive"), flow("f_s", "start", "g0")]
    count = 400
    for i in range(1, count):
        parts.append(gateway(f"g{i}", "inclusive"))
        parts.append(flow(f"a{i}", f"g{i - 1}", f"g{i}", "=true"))
        parts.append(flow(f"b{i}", f"g{i - 1}", f"g{i}", "=true"))
    parts += [end(), flow("f_e", f"g{count - 1}", "end")]
    began = time.monotonic()
    try:
        parse(bpmn("".join(parts)))
    except BadRequest as exc:
        assert "too complex" in exc.message
    assert time.monotonic() - began < 10.0


def test_names_that_become_table_keys_are_bounded() -> None:
    long_type = "x" * 300
    body = start() + service("t", long_type) + end() + chain("start", "t", "end")
    assert "longer than 255 bytes" in rejected(bpmn(body))
    assert "longer than 255 bytes" in rejected(
        bpmn(start() + end() + chain("start", "end"), pid="p" * 300)
    )


def test_link_throw_needs_exactly_one_matching_catch() -> None:
    throw = (
        '<bpmn:intermediateThrowEvent id="go">'
        '<bpmn:linkEventDefinition name="L"/></bpmn:intermediateThrowEvent>'
    )
    assert "exactly one catch event named 'L'" in rejected(
        bpmn(start() + throw + chain("start", "go"))
    )
