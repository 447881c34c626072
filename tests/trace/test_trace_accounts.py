"""Users with scrypt passwords and roles; API tokens shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from trace_env import OPERATOR, TraceEnv

from farmtrace.trace.accounts import hash_password, verify_password
from farmtrace.trace.errors import AuthenticationFailed, InvalidInput, NotPermitted
from farmtrace.trace.models.accounts import ApiToken
from farmtrace.trace.tokens import token_hash

USER = {
    "org": "lab-meizhou",
    "username": "chen.lab",
    "display_name": "陈工",
    "password": "correct horse battery",
    "roles": ["recorder"],
}


def test_password_hashes_are_salted_scrypt() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password(first, "correct horse battery")
    assert not verify_password(first, "correct horse batterY")
    assert not verify_password("md5$abc", "x")
    with pytest.raises(InvalidInput) as caught:
        hash_password("short")
    assert caught.value.message == "password: expected at least 10 characters, found 5"


def test_users_authenticate_and_fail_without_saying_why(county: TraceEnv) -> None:
    accounts = county.trace.accounts
    user = accounts.add_user("lab-meizhou", USER)
    assert (user.org_id, user.role_set) == ("lab-meizhou", frozenset({"recorder"}))
    assert "correct horse" not in user.password_hash
    assert accounts.authenticate("chen.lab", "correct horse battery").id == user.id
    assert user.last_login_at is not None
    for name, password in (("chen.lab", "wrong password!"), ("nobody", "correct horse battery")):
        with pytest.raises(AuthenticationFailed) as caught:
            accounts.authenticate(name, password)
        assert str(caught.value) == "the user name or password is not correct"
    accounts.set_active("chen.lab", False)
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate("chen.lab", "correct horse battery")


def test_who_may_add_users(county: TraceEnv) -> None:
    accounts = county.trace.accounts
    with pytest.raises(NotPermitted) as caught:
        accounts.add_user("coop-hengpi", USER)
    assert caught.value.message == "user.org: coop-hengpi may add users only to itself"
    accounts.add_user(OPERATOR, USER)
    with pytest.raises(InvalidInput) as caught:
        accounts.add_user(OPERATOR, {**USER, "username": "wang", "roles": ["root"]})
    assert caught.value.message == "user.roles[0]: expected one of admin, recorder, viewer, found 'root'"
    with pytest.raises(InvalidInput) as caught:
        accounts.add_user(OPERATOR, USER)
    assert caught.value.message == "user.username: chen.lab is taken"


def test_api_tokens(county: TraceEnv) -> None:
    tokens = county.trace.tokens
    issued = tokens.issue("lab-meizhou", "lab-meizhou", "LIMS uploader", ["lab:write", "batches:read"])
    assert issued.secret.startswith("ft_") and len(issued.secret) == 46
    stored = county.session.get(ApiToken, issued.token.id)
    assert stored is not None and stored.token_hash == token_hash(issued.secret)
    assert issued.secret.encode() not in repr(stored.__dict__).encode(), "only the hash is stored"
    assert stored.last_used_at is None
    assert tokens.authenticate(issued.secret, "lab:write").id == issued.token.id
    first_use = stored.last_used_at
    assert first_use is not None
    tokens.authenticate(issued.secret)
    assert stored.last_used_at == first_use, "refreshed at most once a minute"
    county.clock.set(county.clock.now + timedelta(minutes=2))
    tokens.authenticate(issued.secret)
    assert stored.last_used_at > first_use
    with pytest.raises(NotPermitted) as caught:
        tokens.authenticate(issued.secret, "events:write")
    assert caught.value.message == "scope: this token does not hold 'events:write'"
    with pytest.raises(NotPermitted):
        tokens.revoke("coop-hengpi", issued.token.id)
    tokens.revoke("lab-meizhou", issued.token.id)
    for secret in (issued.secret, issued.secret[:-1] + "A", "not-a-token"):
        with pytest.raises(AuthenticationFailed) as caught:
            tokens.authenticate(secret)
        assert str(caught.value) == "the API token is not valid"
    with pytest.raises(InvalidInput) as caught:
        tokens.issue(OPERATOR, "lab-meizhou", "x", ["everything"])
    assert caught.value.message == (
        "scopes: expected one of batches:read, batches:write, events:write, lab:write, codes:write, export:read, admin, found 'everything'"
    )


def test_expired_tokens_do_not_authenticate(county: TraceEnv) -> None:
    tokens = county.trace.tokens
    issued = tokens.issue(
        OPERATOR,
        "carrier-sf",
        "driver app",
        ["events:write"],
        expires_at=county.clock.now + timedelta(hours=1),
    )
    tokens.authenticate(issued.secret, "events:write")
    county.clock.set(county.clock.now + timedelta(hours=2))
    with pytest.raises(AuthenticationFailed):
        tokens.authenticate(issued.secret)
