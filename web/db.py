"""One database session per request; the request, not the domain code, owns the transaction."""

from __future__ import annotations

from flask import Flask, Response, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from farmtrace.ledger.db import write_engine

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_db(app: Flask, engine: Engine) -> None:
    readers = sessionmaker(bind=engine, expire_on_commit=False)
    writers = sessionmaker(bind=write_engine(engine), expire_on_commit=False)
    app.extensions["farmtrace.engine"] = engine
    app.extensions["farmtrace.sessions"] = (readers, writers)

    @app.after_request
    def _commit(response: Response) -> Response:
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return response
        try:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()
        return response

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def get_session() -> Session:
    """The request's session; writes (non-safe methods) take SQLite's write lock at BEGIN."""
    if "db_session" not in g:
        from flask import current_app

        readers, writers = current_app.extensions["farmtrace.sessions"]
        g.db_session = (readers if request.method in SAFE_METHODS else writers)()
    return g.db_session


def get_engine() -> Engine:
    from flask import current_app

    return current_app.extensions["farmtrace.engine"]
