"""`farmtrace places`: the place registry (county, towns, villages, warehouses, fields)."""

from __future__ import annotations

import click

from farmtrace.trace.places import PLACE_KINDS
from farmtrace.web.cli.trace_glue import acting, as_option, echo_json, json_option, run


@click.group()
def places() -> None:
    """Register places and list them."""


def _place_json(place) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": place.id,
        "kind": place.kind,
        "name_zh": place.name_zh,
        "name_en": place.name_en,
        "parent": place.parent_id,
        "gln": place.gln,
        "latitude": place.latitude,
        "longitude": place.longitude,
    }


@places.command(name="list")
@click.option("--parent", help="Only places directly inside this one.")
@click.option("--kind", type=click.Choice(tuple(PLACE_KINDS)))
@json_option
def list_(parent: str | None, kind: str | None, as_json: bool) -> None:
    """List places."""
    rows = run(lambda t, _s: [_place_json(p) for p in t.places.list(parent, kind)])
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:<32} {row['kind']:<11} {row['name_zh']}")


@places.command()
@click.option("--id", "place_id", required=True, help="e.g. wuhua.hengpi.xiaping")
@click.option("--kind", required=True, type=click.Choice(tuple(PLACE_KINDS)))
@click.option("--name-zh", required=True)
@click.option("--name-en")
@click.option("--parent", help="The place it sits in (a town's county, a village's town).")
@click.option("--gln", help="A 13-digit GS1 GLN.")
@click.option("--lat", "latitude", help="WGS 84 latitude, e.g. 23.93")
@click.option("--lon", "longitude", help="WGS 84 longitude, e.g. 115.77")
@as_option(help_text="Acting organisation (default: the county operator).")
@json_option
def add(place_id, kind, name_zh, name_en, parent, gln, latitude, longitude, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Register a place."""
    data = {"id": place_id, "kind": kind, "name_zh": name_zh}
    for key, value in (
        ("name_en", name_en),
        ("parent", parent),
        ("gln", gln),
        ("latitude", latitude),
        ("longitude", longitude),
    ):
        if value is not None:
            data[key] = value
    row = run(lambda t, _s: _place_json(t.places.register(acting(t, actor), data)))
    echo_json(row) if as_json else click.echo(f"registered {row['id']} ({row['kind']})")
