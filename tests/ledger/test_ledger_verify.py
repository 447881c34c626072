"""verify_store on a genuine store: every count right, in process and in a process pool."""

from __future__ import annotations

import pytest
from conftest import ORIGIN, LedgerEnv
from ledger_verify_store import Store, build_store

from farmtrace.ledger.verify import verify_store


@pytest.fixture
def store(env: LedgerEnv, engine) -> Store:
    return build_store(env, engine)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_genuine_store_verifies(store: Store, workers: int) -> None:
    report = verify_store(store.engine, store.root, workers=workers, chunk_rows=4)
    assert report.ok
    print(report)
