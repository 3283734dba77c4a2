"""A DRD as Camunda Modeler 8 saves it (tests/dmn/models/invoice-decisions.dmn): no input
data, diagram elements, a UNIQUE table feeding a COLLECT table that reads the required
decision by its id (as Camunda 8 allows; DMN itself names it by its name, which works too).
The integration with business rule tasks uses this model too."""

from __future__ import annotations

from pathlib import Path

import pytest

from zennode import dmn

MODEL = Path(__file__).with_name("models") / "invoice-decisions.dmn"


@pytest.fixture(scope="module")
def defs() -> dmn.DecisionDefinitions:
    return dmn.parse_dmn(MODEL.read_bytes())


def test_the_model_reads_with_its_decisions(defs: dmn.DecisionDefinitions) -> None:
    assert defs.id == "invoiceDecisions" and defs.dmn_version == "1.3"
    assert [(d.id, d.name) for d in defs.decisions] == [
        ("invoiceClassification", "Invoice Classification"),
        ("invoiceAssignApprover", "Assign Approver Group"),
    ]


@pytest.mark.parametrize(
    ("amount", "category", "groups"),
    [
        (100, "Misc", ["accounting", "sales"]),
        (500, "Misc", ["management"]),
        (5000, "Misc", ["management"]),
        (10_000, "Travel Expenses", ["accounting", "sales"]),
        (10, "Software License Costs", ["management"]),
    ],
)
def test_approver_groups_follow_the_classification(
    defs: dmn.DecisionDefinitions, amount: int, category: str, groups: list[str]
) -> None:
    result = dmn.evaluate(
        defs, "invoiceAssignApprover", {"amount": amount, "invoiceCategory": category}
    )
    assert result.output == groups
    doc = result.to_json()
    assert [d["decisionId"] for d in doc["evaluatedDecisions"]] == [
        "invoiceClassification",
        "invoiceAssignApprover",
    ]
    assert len(doc["evaluatedDecisions"][1]["matchedRules"]) == len(groups)


def test_an_unknown_category_is_outside_the_input_values(defs: dmn.DecisionDefinitions) -> None:
    with pytest.raises(dmn.DecisionError) as err:
        dmn.evaluate(defs, "invoiceAssignApprover", {"amount": 1, "invoiceCategory": "Food"})
    assert err.value.decision_id == "invoiceClassification"
    assert [d.decision_id for d in err.value.evaluated] == []
