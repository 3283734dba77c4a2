"""DMN for tests: a small Camunda-Modeler-style document with one decision table (which
fails, UNIQUE with two matching rules, for some inputs)."""

from __future__ import annotations

DMN_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" '
    'xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="{drg}" name="{drg} rules" '
    'namespace="http://camunda.org/schema/1.0/dmn">\n'
)


def discount_table(
    decision_id: str = "discount",
    drg: str = "discounts",
    gold: str = "0.1",
    version_tag: str | None = None,
    hit_policy: str = "UNIQUE",
) -> str:
    """Decision `decision_id`: customer ("gold" / "silver") and amount -> discount; gold
    gets `gold` and silver 0.05 up to 1000, any amount over 500 gets 0.2 (a second rule) — so
    with hit policy UNIQUE an amount from 501 to 1000 matches two rules and the decision
    fails."""
    tag = f' camunda:versionTag="{version_tag}"' if version_tag else ""
    rules = (
        ("r_gold", '"gold"', "<= 1000", gold),
        ("r_silver", '"silver"', "<= 1000", "0.05"),
        ("r_big", "-", "> 500", "0.2"),
    )
    body = "".join(
        f'<rule id="{rid}"><inputEntry><text>{customer}</text></inputEntry>'
        f"<inputEntry><text>{amount.replace('<', '&lt;').replace('>', '&gt;')}</text>"
        f"</inputEntry><outputEntry><text>{value}</text></outputEntry></rule>"
        for rid, customer, amount, value in rules
    )
    return (
        DMN_HEAD.format(drg=drg)
        + f'<decision id="{decision_id}" name="Discount"{tag}>'
        + f'<decisionTable id="{decision_id}_table" hitPolicy="{hit_policy}">'
        + '<input id="in_customer" label="Customer"><inputExpression typeRef="string">'
        + "<text>customer</text></inputExpression></input>"
        + '<input id="in_amount" label="Amount"><inputExpression typeRef="number">'
        + "<text>amount</text></inputExpression></input>"
        + '<output id="out_discount" name="discount" typeRef="number"/>'
        + body
        + "</decisionTable></decision></definitions>\n"
    )
