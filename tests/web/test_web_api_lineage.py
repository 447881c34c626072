"""Lineage quantities through HTTP: a transform into two products with and without stated
shares, what the lineage graph and the batch view say of each edge, the refusal of shares
that do not add up, and `farmtrace batches show` for the same batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from web_api_kit import Api, bootstrap, make_app, make_settings, new_key, register_batch, seed_county

from farmtrace.web.cli import main as cli


@pytest.fixture
def coop(database_url: str, tmp_path: Path) -> Api:
    app = make_app(database_url, tmp_path)
    operator = Api(app.test_client(), bootstrap(make_settings(database_url, tmp_path), app))
    coop = operator.as_token(seed_county(operator)["coop-longcun"])
    for product in (
        {"id": "plum-jam", "name_zh": "李子酱", "category": "preserved", "unit": "jar"},
        {"id": "plum-pulp", "name_zh": "李子果渣", "category": "other", "unit": "kg"},
    ):
        coop.ok(coop.post("/api/v1/products", product))
    return coop


def transform(coop: Api, batch: str, shares: list[str] | None, status: int = 201) -> Any:
    outputs: list[dict[str, Any]] = [
        {"product": "plum-jam", "quantity": "300", "unit": "jar"},
        {"product": "plum-pulp", "quantity": "40", "unit": "kg"},
    ]
    if shares is not None:
        for output, share in zip(outputs, shares, strict=True):
            output["shares"] = [{"batch": batch, "quantity": share, "unit": "kg"}]
    body = {"inputs": [{"batch": batch, "quantity": "200", "unit": "kg"}], "outputs": outputs}
    return coop.ok(coop.post("/api/v1/lineage/transform", body, key=new_key()), status)


def test_edges_say_what_went_into_each_output_or_null_and_the_input_total_once(
    coop: Api, database_url: str, tmp_path: Path
) -> None:
    plums = register_batch(coop, quantity="1000")["batch"]
    unstated = transform(coop, plums, None)
    stated = transform(coop, plums, ["150", "50"])
    refused = transform(coop, plums, ["150", "40"], status=409)
    assert refused["rule"] == "quantity_not_conserved"
    assert refused["detail"] == f"outputs: the shares of {plums} add up to 190 kg; 200 kg leaves it"

    graph = coop.ok(coop.get(f"/api/v1/batches/{plums}/lineage"), 200)
    quantities = {(e["to"], e["quantity"], e["unit"]) for e in graph["edges"]}
    jam, pulp = unstated["outputs"]
    stated_jam, stated_pulp = stated["outputs"]
    assert quantities == {
        (jam, None, None),
        (pulp, None, None),
        (stated_jam, "150", "kg"),
        (stated_pulp, "50", "kg"),
    }
    taken = {(t["operation"], t["quantity"], t["unit"], t["outputs"]) for t in graph["taken"]}
    assert taken == {(unstated["operation"], "200", "kg", 2), (stated["operation"], "200", "kg", 2)}
    view = coop.ok(coop.get(f"/api/v1/batches/{plums}"), 200)
    assert view["quantity_out"] == "400"
    assert [t["operation"] for t in view["taken"]] == [unstated["operation"], stated["operation"]]
    assert coop.ok(coop.get(f"/api/v1/batches/{jam}"), 200)["inputs"] == [
        {
            "batch": plums,
            "kind": "transform",
            "operation": unstated["operation"],
            "quantity": None,
            "unit": None,
        }
    ]

    env = {"FARMTRACE_HOME": str(tmp_path), "FARMTRACE_DATABASE_URL": database_url}
    shown = CliRunner().invoke(cli, ["batches", "show", jam], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"made from   {plums} (transform, share not stated)" in shown.output
    shown = CliRunner().invoke(cli, ["batches", "show", plums], env=env)
    assert f"used        200 kg in transform {stated['operation']} into 2 batches" in shown.output
    assert f"went into   {stated_pulp} (transform, 50 kg)" in shown.output
