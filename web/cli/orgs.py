"""`farmtrace orgs`: organisations, their users and API tokens (operator's tooling)."""

from __future__ import annotations

from datetime import timedelta

import click

from farmtrace.trace.orgs import ORG_KINDS
from farmtrace.trace.tokens import SCOPES
from farmtrace.web.cli.trace_glue import acting, as_option, echo_json, json_option, run


@click.group()
def orgs() -> None:
    """Register organisations; manage their users and API tokens."""


def _org_json(org) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": org.id,
        "kind": org.kind,
        "name_zh": org.name_zh,
        "name_en": org.name_en,
        "place": org.place_id,
        "parent": org.parent_org_id,
        "active": org.active,
        "poverty_household": org.poverty_household,
        "poverty_mark_enabled": org.poverty_mark_enabled,
    }


@orgs.command()
@click.option("--id", "org_id", required=True, help="The operator's id, e.g. wuhua-county.")
@click.option("--name-zh", required=True)
@click.option("--name-en")
def bootstrap(org_id: str, name_zh: str, name_en: str | None) -> None:
    """Create the county operator, the root, log and operator keys (once)."""

    def action(t, settings):  # type: ignore[no-untyped-def]
        data = {"id": org_id, "name_zh": name_zh, **({"name_en": name_en} if name_en else {})}
        org = t.orgs.bootstrap_operator(data)
        click.echo(f"operator {org.id}, signing key {t.ctx.keystore.signer_for(org.id).key_id}")

    run(action)


@orgs.command(name="list")
@click.option("--kind", type=click.Choice(tuple(ORG_KINDS)), help="Only this kind.")
@json_option
def list_(kind: str | None, as_json: bool) -> None:
    """List organisations."""
    rows = run(lambda t, _s: [_org_json(o) for o in t.orgs.list(kind)])
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:<24} {row['kind']:<16} {row['name_zh']}")


@orgs.command()
@click.argument("org_id")
@json_option
def show(org_id: str, as_json: bool) -> None:
    """Show one organisation."""
    row = run(lambda t, _s: _org_json(t.orgs.get(org_id)))
    if as_json:
        echo_json(row)
        return
    for key, value in row.items():
        click.echo(f"{key:<22} {'' if value is None else value}")


@orgs.command()
@click.option("--id", "org_id", required=True, help="A slug such as coop-longcun.")
@click.option("--kind", required=True, type=click.Choice(tuple(ORG_KINDS)))
@click.option("--name-zh", required=True)
@click.option("--name-en")
@click.option("--place", help="Its place (required for town centres and village stations).")
@click.option("--parent", help="The organisation it belongs to (a household's cooperative).")
@click.option(
    "--poverty-household", is_flag=True, help="A registered poverty-alleviation household (建档立卡)."
)
@as_option(help_text="Acting organisation (default: the county operator).")
@json_option
def add(org_id, kind, name_zh, name_en, place, parent, poverty_household, actor, as_json) -> None:  # type: ignore[no-untyped-def]
    """Register an organisation and create its custodial signing key."""
    data = {"id": org_id, "kind": kind, "name_zh": name_zh}
    for key, value in (("name_en", name_en), ("place", place), ("parent", parent)):
        if value is not None:
            data[key] = value
    if poverty_household:
        data["poverty_household"] = True

    def action(t, _s):  # type: ignore[no-untyped-def]
        org = t.orgs.register(acting(t, actor), data)
        return {**_org_json(org), "key_id": t.ctx.keystore.signer_for(org.id).key_id}

    row = run(action)
    echo_json(row) if as_json else click.echo(
        f"registered {row['id']} ({row['kind']}), signing key {row['key_id']}"
    )


@orgs.command()
@click.argument("org_id")
@click.option("--household/--not-household", default=True, help="Set or clear the 建档立卡 flag.")
@click.option("--public-mark/--no-public-mark", default=False, help="Show the 扶贫产品 mark to consumers.")
@as_option(help_text="Acting organisation (default: the county operator).")
def poverty(org_id: str, household: bool, public_mark: bool, actor: str | None) -> None:
    """Set a household's poverty-alleviation flag (operator data, never in the ledger)."""
    run(lambda t, _s: t.orgs.set_poverty_household(acting(t, actor), org_id, household, public_mark))
    click.echo(
        f"{org_id}: poverty household {'yes' if household else 'no'}, public mark {'on' if household and public_mark else 'off'}"
    )


@orgs.command(name="user-add")
@click.option("--org", required=True)
@click.option("--username", required=True)
@click.option("--display-name", required=True)
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice(("admin", "recorder", "viewer"))
)
@click.password_option(help="The password (prompted for, not echoed, when omitted).")
@as_option(help_text="Acting organisation (default: the county operator).")
def user_add(
    org: str, username: str, display_name: str, roles: tuple[str, ...], password: str, actor: str | None
) -> None:
    """Add a user to an organisation."""
    data = {
        "org": org,
        "username": username,
        "display_name": display_name,
        "password": password,
        "roles": list(roles),
    }
    user = run(lambda t, _s: t.accounts.add_user(acting(t, actor), data).username)
    click.echo(f"user {user} added to {org}")


@orgs.command(name="token-issue")
@click.option("--org", required=True)
@click.option("--name", required=True, help="What the token is for, e.g. 'LIMS uploader'.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES))
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Expire after this many days.")
@as_option(help_text="Acting organisation (default: the county operator).")
@json_option
def token_issue(
    org: str, name: str, scopes: tuple[str, ...], expires_days: int | None, actor: str | None, as_json: bool
) -> None:
    """Issue an API token; its secret is printed once and never stored."""

    def action(t, _s):  # type: ignore[no-untyped-def]
        expires = None if expires_days is None else t.ctx.now() + timedelta(days=expires_days)
        issued = t.tokens.issue(acting(t, actor), org, name, list(scopes), expires_at=expires)
        return {
            "id": issued.token.id,
            "org": org,
            "scopes": list(issued.token.scope_set),
            "secret": issued.secret,
        }

    row = run(action)
    if as_json:
        echo_json(row)
        return
    click.echo(f"token {row['id']} for {org}: {row['secret']}")
    click.echo("store the secret now: it is not shown again")


@orgs.command(name="token-revoke")
@click.argument("token_id")
@as_option(help_text="Acting organisation (default: the county operator).")
def token_revoke(token_id: str, actor: str | None) -> None:
    """Revoke an API token."""
    run(lambda t, _s: t.tokens.revoke(acting(t, actor), token_id))
    click.echo(f"token {token_id} revoked")


@orgs.command()
@click.option("--org", required=True)
@json_option
def tokens(org: str, as_json: bool) -> None:
    """List an organisation's API tokens (never their secrets)."""

    def action(t, _s):  # type: ignore[no-untyped-def]
        return [
            {
                "id": tk.id,
                "name": tk.name,
                "scopes": tk.scopes.split(),
                "created_at": tk.created_at.isoformat(),
                "last_used_at": None if tk.last_used_at is None else tk.last_used_at.isoformat(),
                "revoked_at": None if tk.revoked_at is None else tk.revoked_at.isoformat(),
            }
            for tk in t.tokens.list(org)
        ]

    rows = run(action)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        click.echo(f"{row['id']}  {state:<8} {' '.join(row['scopes']):<30} {row['name']}")
