"""Demonstration logins for `farmtrace demo`: one user per console area, all with one
documented password (docs/console.md). For a demonstration database only: never run this
against a county's real data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.demo import OPERATOR
from farmtrace.trace.models.accounts import User
from farmtrace.trace.models.registry import Org
from farmtrace.trace.services import trace_services

DEMO_PASSWORD = "farmtrace-demo"  # noqa: S105 - documented demonstration password


@dataclass(frozen=True)
class DemoUser:
    username: str
    org: str
    roles: tuple[str, ...]
    display_name: str


DEMO_USERS = (
    DemoUser("demo-operator", OPERATOR, ("admin", "recorder"), "运营中心演示账号"),
    DemoUser("demo-coop", "coop-changbu", ("recorder",), "合作社演示账号"),
    DemoUser("demo-lab", "lab-meizhou", ("recorder",), "检测机构演示账号"),
    DemoUser("demo-carrier", "carrier-wuhua", ("recorder",), "物流演示账号"),
    DemoUser("demo-station", "station-yitang", ("recorder",), "村级服务站演示账号"),
    DemoUser("demo-packer", "packer-wuhua", ("recorder",), "包装站演示账号"),
    DemoUser("demo-viewer", "coop-changbu", ("viewer",), "只读演示账号"),
)


def ensure_demo_users(session: Session, keystore: KeyStore) -> list[DemoUser]:
    """Add the demonstration users that are missing (the caller commits); returns them all."""
    services = trace_services(session, keystore)
    for demo in DEMO_USERS:
        if session.get(Org, demo.org) is None:
            continue
        if session.scalars(select(User).where(User.username == demo.username)).first() is not None:
            continue
        services.accounts.add_user(
            OPERATOR,
            {
                "org": demo.org,
                "username": demo.username,
                "display_name": demo.display_name,
                "password": DEMO_PASSWORD,
                "roles": list(demo.roles),
            },
        )
    return [d for d in DEMO_USERS if session.get(Org, d.org) is not None]


def describe_demo_users(users: list[DemoUser]) -> list[str]:
    """Lines for the terminal: who can sign in, with the one demonstration password."""
    lines = [f"console logins (password for all: {DEMO_PASSWORD}):"]
    lines += [f"  {u.username:<14} {u.org:<16} {' '.join(u.roles)}" for u in users]
    return lines


def add_demo_logins(session: Session, keystore: KeyStore, echo: Callable[[str], object]) -> list[DemoUser]:
    """`farmtrace demo`: add the demonstration users and tell the terminal how to sign in."""
    users = ensure_demo_users(session, keystore)
    for line in describe_demo_users(users):
        echo(line)
    return users
