"""`farmtrace products`: products with GTINs and their 三品一标 certificates."""

from __future__ import annotations

import click

from farmtrace.trace.events.quality import CERT_SCHEMES
from farmtrace.trace.products import CATEGORIES
from farmtrace.trace.units import QUANTITY_UNITS
from farmtrace.web.cli.trace_glue import acting, as_option, echo_json, json_option, run


@click.group()
def products() -> None:
    """Register products and their certificates."""


def _product_json(t, product) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": product.id,
        "owner": product.owner_org_id,
        "name_zh": product.name_zh,
        "name_en": product.name_en,
        "category": product.category,
        "specification": product.specification,
        "unit": product.unit,
        "gtin": product.gtin,
        "certificates": [c.to_json() for c in t.products.certificates(product.id)],
    }


@products.command(name="list")
@click.option("--owner", help="Only this organisation's products.")
@json_option
def list_(owner: str | None, as_json: bool) -> None:
    """List products."""
    rows = run(lambda t, _s: [_product_json(t, p) for p in t.products.list(owner)])
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:<28} {row['gtin'] or '-':<15} {row['owner']:<20} {row['name_zh']}")


@products.command()
@click.argument("product_id")
@json_option
def show(product_id: str, as_json: bool) -> None:
    """Show a product and whether each certificate is valid today."""
    row = run(lambda t, _s: _product_json(t, t.products.get(product_id)))
    if as_json:
        echo_json(row)
        return
    for key, value in row.items():
        if key != "certificates":
            click.echo(f"{key:<14} {'' if value is None else value}")
    for cert in row["certificates"]:
        state = "valid" if cert["valid"] else "NOT VALID"
        click.echo(
            f"certificate    {cert['scheme_name_zh']} {cert['number']} {cert['valid_from']}..{cert['valid_until']} {state}"
        )


@products.command()
@click.option("--id", "product_id", required=True)
@click.option("--name-zh", required=True)
@click.option("--name-en")
@click.option("--category", required=True, type=click.Choice(CATEGORIES))
@click.option("--unit", required=True, type=click.Choice(tuple(QUANTITY_UNITS)))
@click.option("--specification", help="e.g. '5 kg/箱'")
@click.option("--gtin", help="GTIN-8/12/13/14 with its check digit.")
@click.option("--owner", help="The owning organisation (operator only; default: the acting one).")
@as_option(required=True)
@json_option
def add(product_id, name_zh, name_en, category, unit, specification, gtin, owner, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Register a product."""
    data = {"id": product_id, "name_zh": name_zh, "category": category, "unit": unit}
    for key, value in (
        ("name_en", name_en),
        ("specification", specification),
        ("gtin", gtin),
        ("owner", owner),
    ):
        if value is not None:
            data[key] = value
    row = run(lambda t, _s: _product_json(t, t.products.register(actor, data)))
    echo_json(row) if as_json else click.echo(
        f"registered {row['id']}" + (f" GTIN {row['gtin']}" if row["gtin"] else "")
    )


@products.command()
@click.argument("product_id")
@click.option("--scheme", required=True, type=click.Choice(CERT_SCHEMES))
@click.option("--number", required=True, help="The certificate number.")
@click.option("--issuer", required=True)
@click.option("--valid-from", required=True, help="YYYY-MM-DD")
@click.option("--valid-until", required=True, help="YYYY-MM-DD")
@as_option(help_text="Acting organisation (default: the county operator).")
def certify(product_id, scheme, number, issuer, valid_from, valid_until, actor) -> None:  # type: ignore[no-untyped-def]
    """Add a 无公害/绿色食品/有机/地理标志 certificate to a product."""
    data = {
        "scheme": scheme,
        "certificate_number": number,
        "issuer": issuer,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    run(lambda t, _s: t.products.add_certificate(acting(t, actor), product_id, data))
    click.echo(f"{product_id}: certificate {number} added")
