"""Small DMN documents for tests, written the way modelers write them."""

from __future__ import annotations

from xml.sax.saxutils import escape

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMN15 = "https://www.omg.org/spec/DMN/20230324/MODEL/"


def definitions(
    body: str, ns: str = DMN15, namespace: str = "urn:test", name: str = "test"
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="{ns}" id="defs" name="{name}" namespace="{namespace}">'
        f"{body}</definitions>"
    ).encode()


def text(value: str) -> str:
    return f"<text>{escape(value)}</text>"


def literal(expr: str, type_ref: str | None = None) -> str:
    t = f' typeRef="{escape(type_ref)}"' if type_ref else ""
    return f"<literalExpression{t}>{text(expr)}</literalExpression>"


def input_data(name: str, type_ref: str | None = None, id_: str | None = None) -> str:
    t = f' typeRef="{escape(type_ref)}"' if type_ref else ""
    return f'<inputData id="{id_ or name}" name="{name}"><variable name="{name}"{t}/></inputData>'


def decision(
    name: str,
    logic: str,
    *,
    inputs: tuple[str, ...] = (),
    decisions: tuple[str, ...] = (),
    knowledge: tuple[str, ...] = (),
    type_ref: str | None = None,
    id_: str | None = None,
) -> str:
    t = f' typeRef="{escape(type_ref)}"' if type_ref else ""
    reqs = "".join(
        f'<informationRequirement><requiredDecision href="#{d}"/></informationRequirement>'
        for d in decisions
    )
    reqs += "".join(
        f'<informationRequirement><requiredInput href="#{i}"/></informationRequirement>'
        for i in inputs
    )
    reqs += "".join(
        f'<knowledgeRequirement><requiredKnowledge href="#{k}"/></knowledgeRequirement>'
        for k in knowledge
    )
    return (
        f'<decision id="{id_ or name}" name="{name}"><variable name="{name}"{t}/>'
        f"{reqs}{logic}</decision>"
    )


def table(
    inputs: list[str],
    outputs: list[str],
    rules: list[tuple[list[str], list[str]]],
    hit_policy: str = "UNIQUE",
    aggregation: str | None = None,
    output_values: dict[int, str] | None = None,
    defaults: dict[int, str] | None = None,
    input_values: dict[int, str] | None = None,
) -> str:
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    out = [f'<decisionTable id="t" hitPolicy="{hit_policy}"{agg}>']
    for n, expr in enumerate(inputs):
        values = ""
        if input_values and n in input_values:
            values = f"<inputValues>{text(input_values[n])}</inputValues>"
        out.append(
            f'<input id="in{n}" label="{escape(expr)}"><inputExpression>{text(expr)}'
            f"</inputExpression>{values}</input>"
        )
    for n, name in enumerate(outputs):
        values = ""
        if output_values and n in output_values:
            values += f"<outputValues>{text(output_values[n])}</outputValues>"
        if defaults and n in defaults:
            values += f"<defaultOutputEntry>{text(defaults[n])}</defaultOutputEntry>"
        name_attr = f' name="{name}"' if name else ""
        out.append(f'<output id="out{n}"{name_attr}>{values}</output>')
    for n, (entries, results) in enumerate(rules, 1):
        cells = "".join(f"<inputEntry>{text(e)}</inputEntry>" for e in entries)
        cells += "".join(f"<outputEntry>{text(r)}</outputEntry>" for r in results)
        out.append(f'<rule id="rule{n}">{cells}</rule>')
    out.append("</decisionTable>")
    return "".join(out)


def bkm(name: str, params: list[str], body: str, knowledge: tuple[str, ...] = ()) -> str:
    formal = "".join(
        f'<formalParameter name="{p.split(":")[0]}"'
        + (f' typeRef="{p.split(":")[1]}"' if ":" in p else "")
        + "/>"
        for p in params
    )
    reqs = "".join(
        f'<knowledgeRequirement><requiredKnowledge href="#{k}"/></knowledgeRequirement>'
        for k in knowledge
    )
    return (
        f'<businessKnowledgeModel id="{name}" name="{name}"><variable name="{name}"/>'
        f"<encapsulatedLogic>{formal}{body}</encapsulatedLogic>{reqs}</businessKnowledgeModel>"
    )
