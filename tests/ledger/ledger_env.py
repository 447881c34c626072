"""Ledger fixtures on a fresh, migrated database of the engine under test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from farmtrace.ledger.append import Ledger
from farmtrace.ledger.db import write_engine
from farmtrace.ledger.keys import MasterKey
from farmtrace.ledger.keystore import KeyStore, LogKeys
from farmtrace.ledger.note import SignerKey

OPERATOR = "county"
ORIGIN = "trace.example.org/farmtrace-log"


class Clock:
    """A clock the test moves by hand, starting at a fixed instant."""

    def __init__(self) -> None:
        self.now = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@dataclass
class LedgerEnv:
    session: Session
    ledger: Ledger
    keystore: KeyStore
    keys: LogKeys
    clock: Clock

    @property
    def log_signer(self) -> SignerKey:
        return SignerKey(ORIGIN, self.keys.log.seed)


@pytest.fixture
def master(tmp_path) -> MasterKey:
    return MasterKey.load_or_create(tmp_path / "keys" / "master.key")


@pytest.fixture
def env(engine: Engine, master: MasterKey) -> Iterator[LedgerEnv]:
    clock = Clock()
    with Session(write_engine(engine)) as session:
        ledger = Ledger(session, clock=clock)
        keystore = KeyStore(session, master, ledger)
        keys = keystore.bootstrap(OPERATOR)
        session.commit()
        yield LedgerEnv(session, ledger, keystore, keys, clock)
