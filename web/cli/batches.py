"""`farmtrace batches`: register, list and show batches; split, merge, transform; recall."""

from __future__ import annotations

import click

from farmtrace.trace.projections import rebuild_projections, snapshot
from farmtrace.web.cli.trace_glue import acting, as_option, echo_json, json_option, read_json, run


@click.group()
def batches() -> None:
    """Batches: registration, the record, lineage and recalls."""


@batches.command(name="list")
@click.option("--owner")
@click.option("--custodian")
@click.option("--product")
@click.option("--recalled/--not-recalled", default=None, help="Only recalled (or only not recalled) batches.")
@click.option("--flagged/--not-flagged", default=None, help="Only batches with (or without) flags.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
def list_(owner, custodian, product, recalled, flagged, limit, as_json) -> None:  # type: ignore[no-untyped-def]
    """List batches, newest first."""
    rows = run(
        lambda t, _s: [
            b.to_json()
            for b in t.batches.list(
                owner=owner,
                custodian=custodian,
                product=product,
                recalled=recalled,
                flagged=flagged,
                limit=limit,
            )
        ]
    )
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        marks = (
            ("RECALLED " if row["recalled"] else "")
            + ("flagged " if row["flagged"] else "")
            + row["conformity"]
        )
        click.echo(
            f"{row['id']}  {row['lot']:<14} {row['product']:<24} {row['quantity_in']:>8} {row['unit']:<6} {row['custodian']:<20} {marks}"
        )


@batches.command()
@click.argument("batch_id")
@json_option
def show(batch_id: str, as_json: bool) -> None:
    """Show what is known of a batch: custody, quantities, tests, flags, recalls, lineage."""

    def action(t, _s):  # type: ignore[no-untyped-def]
        view = t.batches.get(batch_id).to_json()
        view["lineage"] = t.lineage.graph(batch_id)
        return view

    view = run(action)
    if as_json:
        echo_json(view)
        return
    click.echo(
        f"batch       {view['id']}  lot {view['lot']}  {view['product']['name_zh']} ({view['product']['id']})"
    )
    click.echo(f"owner       {view['owner']}   custodian {view['custodian']}   at {view['location'] or '-'}")
    click.echo(
        f"quantity    in {view['quantity_in']} {view['unit']}, out {view['quantity_out']} {view['unit']}"
    )
    click.echo(f"conformity  {view['conformity']}{'   RECALLED' if view['recalled'] else ''}")
    for flag in view["flags"]:
        click.echo(f"flag        {flag['kind']}: {flag['message']}")
    for recall in view["recalls"]:
        click.echo(
            f"recall      {recall['recall_id']} from {recall['origin']} ({'active' if recall['active'] else 'lifted'}): {recall['reason']}"
        )
    for test in view["lab_tests"]:
        click.echo(f"lab test    {test['sample_id']} by {test['lab']}: {test['verdict']}")
    for edge in view["inputs"]:
        click.echo(f"made from   {edge['batch']} ({edge['kind']}, {_edge_quantity(edge)})")
    for take in view["taken"]:
        click.echo(
            f"used        {take['quantity']} {take['unit']} in {take['kind']} {take['operation']}"
            f" into {take['outputs']} batch{'es' if take['outputs'] != 1 else ''}"
        )
    for edge in view["outputs"]:
        click.echo(f"went into   {edge['batch']} ({edge['kind']}, {_edge_quantity(edge)})")


def _edge_quantity(edge: dict) -> str:
    if edge["quantity"] is None:  # a transform with several outputs that stated no shares
        return "share not stated"
    return f"{edge['quantity']} {edge['unit']}"


@batches.command()
@click.argument("batch_id")
@json_option
def history(batch_id: str, as_json: bool) -> None:
    """The batch's signed ledger entries, in order."""
    entries = run(lambda t, _s: t.batches.history(batch_id))
    if as_json:
        echo_json(entries)
        return
    for item in entries:
        entry = item["entry"]
        click.echo(
            f"{entry['seq']:>4} {entry['event_time']:<32} {entry['type']:<24} {entry['author']:<20} {item['hash']}"
        )


@batches.command()
@click.option(
    "--json-file", "json_file", required=True, help="The registration payload (JSON; '-' for stdin)."
)
@click.option("--event-time", help="RFC 3339 time with offset (default: now).")
@click.option("--client-id", help="Idempotency key: a retry with the same key records nothing new.")
@as_option(required=True)
@json_option
def register(json_file, event_time, client_id, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Register a batch (payload: product, lot, producers, origin_place, unit, quantity, ...)."""
    payload = read_json(json_file)
    recorded = run(
        lambda t, _s: t.batches.register(actor, payload, event_time=event_time, client_id=client_id)
    )
    echo_json(recorded.to_json()) if as_json else click.echo(recorded.batch)


@batches.command()
@click.argument("batch_id")
@click.option(
    "--output",
    "outputs",
    multiple=True,
    required=True,
    metavar="QTY[:LOT]",
    help="One output batch (repeat).",
)
@click.option("--client-id")
@as_option(required=True)
@json_option
def split(batch_id, outputs, client_id, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Split a batch into outputs of the same product, e.g. --output 1000:CB-A1 --output 1500."""
    specs = []
    for text in outputs:
        quantity, _, lot = text.partition(":")
        specs.append({"quantity": quantity, **({"lot": lot} if lot else {})})
    result = run(lambda t, _s: t.lineage.split(actor, batch_id, specs, client_id=client_id))
    echo_json(result.to_json()) if as_json else click.echo(" ".join(result.outputs))


@batches.command()
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    metavar="BATCH[:QTY]",
    help="An input batch (repeat); no quantity takes all that is left.",
)
@click.option("--lot")
@click.option("--client-id")
@as_option(required=True)
@json_option
def merge(inputs, lot, client_id, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Merge batches of one product into one."""
    specs = []
    for text in inputs:
        batch, _, quantity = text.partition(":")
        specs.append({"batch": batch, **({"quantity": quantity} if quantity else {})})
    result = run(
        lambda t, _s: t.lineage.merge(actor, specs, {"lot": lot} if lot else {}, client_id=client_id)
    )
    echo_json(result.to_json()) if as_json else click.echo(result.outputs[0])


@batches.command()
@click.option(
    "--json-file",
    required=True,
    help='{"inputs": [{"batch", "quantity", "unit"}], "outputs": [{"product", "quantity", "unit", "lot",'
    ' "shares"?: [{"batch", "quantity", "unit"}]}]}; shares: how much of each input went into that'
    " output (all outputs or none; each input's shares add up to what left it)",
)
@click.option("--client-id")
@as_option(required=True)
@json_option
def transform(json_file, client_id, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Transform input batches into new products (e.g. rice into spirit)."""
    spec = read_json(json_file, "transform")
    if not isinstance(spec, dict):
        raise click.ClickException("transform file: expected a JSON object with inputs and outputs")
    result = run(
        lambda t, _s: t.lineage.transform(actor, spec.get("inputs"), spec.get("outputs"), client_id=client_id)
    )
    echo_json(result.to_json()) if as_json else click.echo(" ".join(result.outputs))


@batches.command()
@click.argument("batch_id")
@click.option("--reason", required=True)
@click.option(
    "--level", type=click.IntRange(1, 3), default=2, show_default=True, help="一级/二级/三级 recall."
)
@click.option("--client-id")
@as_option(help_text="Acting organisation (default: the county operator).")
@json_option
def recall(batch_id, reason, level, client_id, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Recall a batch and every batch downstream of it."""
    result = run(
        lambda t, _s: t.recalls.issue(acting(t, actor), batch_id, reason, level, client_id=client_id)
    )
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(f"recall {result.recall_id} reaches {len(result.batches)} batches: {' '.join(result.batches)}")


@batches.command(name="recall-lift")
@click.argument("recall_id")
@click.option("--reason", required=True)
@as_option(help_text="Acting organisation (default: the county operator).")
def recall_lift(recall_id: str, reason: str, actor: str | None) -> None:
    """Lift a recall on every batch it reached."""
    result = run(lambda t, _s: t.recalls.lift(acting(t, actor), recall_id, reason))
    click.echo(f"recall {recall_id} lifted on {len(result.batches)} batches")


@batches.command()
@click.option("--check", is_flag=True, help="Only compare: fail if the rebuilt projections differ.")
def rebuild(check: bool) -> None:
    """Recompute the batch projections from the ledger."""

    def action(t, _s):  # type: ignore[no-untyped-def]
        before = snapshot(t.ctx.session)
        count = rebuild_projections(t.ctx.session)
        after = snapshot(t.ctx.session)
        differing = sorted(name for name in after if after[name] != before[name])
        if check:
            t.ctx.session.rollback()
            if differing:
                raise click.ClickException(f"projections differ from the ledger in: {', '.join(differing)}")
        return count, differing

    count, differing = run(action)
    if check:
        click.echo(f"{count} batches: projections match the ledger")
    else:
        click.echo(
            f"{count} batches rebuilt"
            + (f"; changed: {', '.join(differing)}" if differing else "; nothing changed")
        )
