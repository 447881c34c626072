"""`farmtrace demo` adds one console login per area, printed with the one demo password."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_web_console_kit as kit
from test_web_console_kit import Console, make_app

from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore
from farmtrace.trace.demo import load_demo
from farmtrace.web.api.context import MASTER_KEY_FILE
from farmtrace.web.console.demo_users import DEMO_PASSWORD, DEMO_USERS, add_demo_logins

cheap_scrypt = kit.cheap_scrypt
pytestmark = pytest.mark.usefixtures("cheap_scrypt")

EXPECTED_AREAS = {
    "demo-operator": "/console/operator/",
    "demo-coop": "/console/coop/",
    "demo-lab": "/console/lab/",
    "demo-carrier": "/console/logistics/",
    "demo-station": "/console/logistics/",
    "demo-packer": "/console/packing/",
    "demo-viewer": "/console/coop/",
}


def test_demo_logins_are_added_once_and_open_their_areas(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path)
    settings = app.config["FARMTRACE"]
    _readers, writers = app.extensions["farmtrace.sessions"]
    printed: list[str] = []
    for _ in range(2):  # loading twice changes nothing
        with writers() as session:
            keystore = KeyStore(session, MasterKey.load_or_create(settings.keys_dir / MASTER_KEY_FILE))
            load_demo(session, keystore)
            users = add_demo_logins(session, keystore, printed.append)
            session.commit()
    assert [u.username for u in users] == [u.username for u in DEMO_USERS]
    assert printed[0] == f"console logins (password for all: {DEMO_PASSWORD}):"
    assert printed.count(printed[0]) == 2 and len(printed) == 2 * (len(DEMO_USERS) + 1)
    for username, area in EXPECTED_AREAS.items():
        console = Console(app.test_client())
        assert console.login(username, DEMO_PASSWORD).status_code == 303, username
        assert console.get(area).status_code == 200, (username, area)
    viewer = Console(app.test_client())
    viewer.login("demo-viewer", DEMO_PASSWORD)
    assert viewer.get("/console/coop/batches/new").status_code == 403
    app.extensions["farmtrace.engine"].dispose()
