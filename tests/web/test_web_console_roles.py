"""Who sees which console pages: each organisation kind its own areas (403 elsewhere), each
role what it may do (viewers read, recorders record, admins manage people), nobody without
signing in."""

from __future__ import annotations

import re

import pytest
import test_web_console_kit as kit
from flask import Flask
from test_web_console_kit import Console, register_batch, signed_in

app, clock, cheap_scrypt = kit.app, kit.clock, kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")

AREAS = ("coop", "lab", "logistics", "packing", "operator")
ALLOWED = {
    "coop-user": {"coop", "logistics"},
    "coop-viewer": {"coop", "logistics"},
    "lab-user": {"lab"},
    "carrier-user": {"logistics"},
    "station-user": {"logistics"},
    "packer-user": {"logistics", "packing"},
    "op-admin": {"logistics", "packing", "operator"},
    "op-viewer": {"logistics", "packing", "operator"},
}
# A page of each area beyond its index (GET), to check more than the front door.
INNER_PAGES = {
    "coop": "/console/coop/batches/new",
    "lab": "/console/lab/find?code=B0000000000AB",
    "logistics": "/console/logistics/find?code=",
    "packing": "/console/packing/find?code=",
    "operator": "/console/operator/orgs",
}


@pytest.mark.parametrize("username", sorted(ALLOWED))
def test_each_role_sees_only_its_areas(app: Flask, username: str) -> None:
    console = signed_in(app, username)
    home = console.get("/console/")
    for area in AREAS:
        response = console.get(f"/console/{area}/")
        if area in ALLOWED[username]:
            assert response.status_code == 200, (username, area)
            assert f'href="/console/{area}/"' in home.text
        else:
            assert response.status_code == 403, (username, area)
            assert "无权访问" in response.text
            assert f'href="/console/{area}/"' not in home.text
            inner = console.get(INNER_PAGES[area])
            assert inner.status_code == 403, (username, area, INNER_PAGES[area])


def test_without_signing_in_pages_redirect_and_forms_are_refused(app: Flask) -> None:
    anonymous = Console(app.test_client())
    for area in AREAS:
        response = anonymous.get(f"/console/{area}/")
        assert response.status_code == 302
        assert response.headers["Location"] == f"/console/login?next=/console/{area}/"
    anonymous.get("/console/login")  # a session with a CSRF token, but nobody signed in
    for path in ("/console/coop/batches/new", "/console/operator/orgs", "/console/logout-everywhere"):
        assert anonymous.post(path, {}).status_code == 401


def test_viewers_read_but_do_not_record(app: Flask) -> None:
    coop = signed_in(app, "coop-user")
    batch = register_batch(coop)
    viewer = signed_in(app, "coop-viewer")
    assert viewer.get(f"/console/coop/batches/{batch}").status_code == 200
    page = viewer.get("/console/coop/")
    assert "登记新批次" not in page.text
    assert viewer.get("/console/coop/batches/new").status_code == 403
    assert viewer.post("/console/coop/batches/new", {"product": "changbu-potato"}).status_code == 403
    assert viewer.post(f"/console/coop/batches/{batch}/harvest", {"quantity": "1"}).status_code == 403
    assert viewer.post(f"/console/logistics/batches/{batch}/handoff", {}).status_code == 403
    operator_viewer = signed_in(app, "op-viewer")
    assert operator_viewer.get("/console/operator/orgs/coop-changbu").status_code == 200
    assert operator_viewer.post("/console/operator/orgs", {"id": "x-y"}).status_code == 403
    assert operator_viewer.post("/console/operator/recalls/new", {"batch": batch}).status_code == 403


def test_people_pages_need_the_admin_role(app: Flask, database_factory: object) -> None:
    operator = signed_in(app, "op-admin")
    page = operator.get("/console/operator/orgs/coop-changbu")
    user_id = re.search(r"/console/operator/users/(\d+)/deactivate", page.text)
    assert user_id is not None
    # A recorder of the operator (not admin) may handle records but not people.
    add = operator.post(
        "/console/operator/orgs/wuhua-county/users",
        {"username": "op-recorder", "display_name": "记录员", "password": kit.PASSWORD, "roles": "recorder"},
    )
    assert add.status_code == 303
    recorder = signed_in(app, "op-recorder")
    assert recorder.get("/console/operator/orgs").status_code == 200
    assert recorder.post(f"/console/operator/users/{user_id.group(1)}/deactivate").status_code == 403
    assert recorder.post("/console/operator/orgs/coop-changbu/tokens", {"name": "x"}).status_code == 403
    assert recorder.get("/console/operator/recalls/new").status_code == 200


def test_a_cooperative_sees_only_its_own_batches(app: Flask) -> None:
    mine = register_batch(signed_in(app, "coop-user"))
    other = signed_in(app, "coop2-user")
    assert other.get(f"/console/coop/batches/{mine}").status_code == 403
    assert other.post(f"/console/coop/batches/{mine}/input", {}).status_code == 403
    assert mine not in other.get("/console/coop/").text
    assert other.get("/console/coop/batches/B0000000000AB").status_code == 404
    assert other.get("/console/coop/batches/not-a-batch").status_code == 404


def test_a_batch_belongs_to_the_registrant_and_the_product_owner(app: Flask) -> None:
    # coop-hengpi may not register a batch of coop-changbu's product: the domain refuses,
    # and the form says so next to the product.
    other = signed_in(app, "coop2-user")
    client_id = other.form_client_id("/console/coop/batches/new")
    response = other.post(
        "/console/coop/batches/new",
        {"product": "changbu-potato", "unit": "kg", "expected_quantity": "5", "client_id": client_id},
    )
    assert response.status_code == 422
    assert "belongs to coop-changbu" in (kit.field_error(response.text, "product") or "")
