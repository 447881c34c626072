"""The verifier's fast row path refuses every row the full path refuses.

verify_rows checks each stored row first with `_fast_link`, which makes every check more
cheaply and declines (returns None) at the first doubt; the full path `_full_check_row`
then decides and names the problem. These tests take genuine rows from a real store
(SQLite and PostgreSQL, through verify's own query), change one thing at a time, and
require: whenever the full path finds a problem, the fast path declined; whenever it finds
none, the fast path either declined or gave the same link.

For the stored bytes the changed entry is re-signed with the author's registered key and
its entry_hash column recomputed, so that only the canonical-form rule stands between
the bytes and acceptance. The Merkle recomputation's shortcut (verify_tree.Frontier) is
checked against tlog, which the append path uses to store the hashes.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from ledger_env import LedgerEnv
from ledger_verify_store import WHEN, Store, build_store

from farmtrace.ledger.append import Draft
from farmtrace.ledger.entry import SIGNATURE_CONTEXT, parse_recorded_at
from farmtrace.ledger.hashing import leaf_hash, merkle_tree_hash
from farmtrace.ledger.keyhistory import KeyHistory
from farmtrace.ledger.tlog import stored_hashes_for_batch, tree_hash
from farmtrace.ledger.verify import entry_rows, replay_key_history
from farmtrace.ledger.verify_report import Problems
from farmtrace.ledger.verify_rows import Row, _fast_link, _full_check_row, check_chunk
from farmtrace.ledger.verify_tree import Frontier

# Every kind of character the canonical form treats specially: escapes with two
# characters (\" \\ \n \t), a control written \u001f, U+007F and U+2028 written as they
# are, non-ASCII (é, CJK) written as UTF-8, and '/' not escaped; integers of both signs.
PAYLOAD = {
    "text": 'q"b\\s/n\nt\tc\x1fd\x7fl\u2028é有机肥',
    "n": 12,
    "neg": -5,
    "zero": 0,
    "list": [1, "a", None, True, False],
    "nested": {"b": 1, "a": 2},
}

# Changes to canonical entry bytes that keep them JSON of the same (or an invalid) value:
# each must be refused, by both paths. (name, old bytes, new bytes), replaced once.
SPELLINGS = [
    ("space after a comma", b',"n":', b', "n":'),
    ("space after a colon", b'"n":12', b'"n": 12'),
    ("newline inside", b',"neg"', b',\n"neg"'),
    ("keys out of order", b'"a":2,"b":1', b'"b":1,"a":2'),
    ("duplicate key", b'"n":12,', b'"n":12,"n":12,'),
    ("\\u escape of an ASCII letter", b'q\\"b', b'\\u0071\\"b'),
    ("\\u escape of a quote", b'q\\"b', b"q\\u0022b"),
    ("escaped solidus", b"s/n", b"s\\/n"),
    ("\\u000a for \\n", b"n\\nt", b"n\\u000at"),
    ("upper-case hex escape", b"\\u001f", b"\\u001F"),
    ("raw control character", b"\\u001f", b"\x1f"),
    ("DEL escaped", b"d\x7fl", b"d\\u007fl"),
    ("U+2028 escaped", "l\u2028".encode(), b"l\\u2028"),
    ("non-ASCII escaped", "é".encode(), b"\\u00e9"),
    ("CJK escaped", "有".encode(), b"\\u6709"),
    ("integer as a fraction", b'"n":12', b'"n":12.0'),
    ("integer with an exponent", b'"n":12', b'"n":1.2e1'),
    ("integer with an upper-case exponent", b'"n":12', b'"n":12E0'),
    ("leading zero", b'"n":12', b'"n":012'),
    ("plus sign", b'"n":12', b'"n":+12'),
    ("negative zero", b'"zero":0', b'"zero":-0'),
    ("integer beyond 2**53 - 1", b'"n":12', b'"n":9007199254740992'),
    ("negative integer beyond -(2**53 - 1)", b'"neg":-5', b'"neg":-9007199254740992'),
    ("integer of 5,000 digits", b'"n":12', b'"n":' + b"9" * 5000),
    ("NaN", b'"n":12', b'"n":NaN'),
    ("true written True", b"true", b"True"),
    ("byte-order mark", b"{", b"\xef\xbb\xbf{"),
    ("invalid UTF-8", "é".encode(), b"\xc3\x28"),
    ("overlong UTF-8 for '/'", b"s/n", b"s\xc0\xafn"),
    ("UTF-8 of a lone surrogate", "é".encode(), b"\xed\xa0\x80"),
    ("escaped lone surrogate", "é".encode(), b"\\ud800"),
    ("trailing space", b"}", b"} "),
    ("trailing data", b'"v":1}', b'"v":1}{}'),
]


@pytest.fixture
def store(env: LedgerEnv, engine) -> Store:
    store = build_store(env, engine)
    # An entry whose payload has every kind of character and number, signed by store.coop.
    env.ledger.append(Draft("B2", "lab.tested", WHEN, "coop-1", "B2-special", PAYLOAD), store.coop)
    env.session.commit()
    return store


def rows_of(store: Store) -> tuple[dict[tuple[str, int], Row], KeyHistory]:
    with store.engine.connect() as conn:
        history = replay_key_history(conn, store.root, Problems())
        rows = {(row[0], row[1]): tuple(row) for row in conn.execute(entry_rows(conn.dialect.name))}
    return rows, history


def special(store: Store) -> tuple[Row, KeyHistory]:
    rows, history = rows_of(store)
    row = next(row for row in rows.values() if b'"B2-special"' in bytes(row[3]))
    return row, history


def resigned(store: Store, row: Row, data: bytes) -> Row:
    """The row with other bytes, their hash and their signature by the entry's own key."""
    signature = store.coop.sign(SIGNATURE_CONTEXT + data)
    return (row[0], row[1], leaf_hash(data), data, signature, *row[5:])


def verdicts(row: Row, history: KeyHistory) -> tuple[str | None, object]:
    """(the full path's problem or None, the fast path's link or None), checked to agree."""
    link, problem, _signed = _full_check_row(row, history)
    fast = _fast_link(row, history)
    if problem is not None:
        assert fast is None, f"fast path accepted what the full path refuses: {problem}"
    else:
        assert fast is None or fast == link
    return (None if problem is None else problem.what), fast


def test_the_special_entry_takes_the_fast_path(store: Store) -> None:
    row, history = special(store)
    problem, fast = verdicts(row, history)
    assert problem is None and fast is not None
    assert check_chunk([row], history).problems == []


@pytest.mark.parametrize(("name", "old", "new"), SPELLINGS, ids=[case[0] for case in SPELLINGS])
def test_every_other_spelling_is_refused_by_both_paths(
    store: Store, name: str, old: bytes, new: bytes
) -> None:
    row, history = special(store)
    data = bytes(row[3])
    assert data.count(old) >= 1, name
    problem, fast = verdicts(resigned(store, row, data.replace(old, new, 1)), history)
    assert fast is None
    assert problem is not None and problem.startswith("stored bytes are not a valid canonical entry: "), (
        problem
    )


def test_the_canonical_bytes_resigned_still_pass(store: Store) -> None:
    # The re-signing itself is not what the spellings above trip over.
    row, history = special(store)
    problem, fast = verdicts(resigned(store, row, bytes(row[3])), history)
    assert problem is None and fast is not None


def test_no_path_normalises_unicode(store: Store, env: LedgerEnv) -> None:
    # NFC and NFD spell different strings, so different entries; each verifies as itself.
    decomposed = unicodedata.normalize("NFD", "é")
    env.ledger.append(Draft("B3", "lab.tested", WHEN, "coop-1", "B3-nfd", {"t": decomposed}), store.coop)
    env.session.commit()
    rows, history = rows_of(store)
    row = next(row for row in rows.values() if b'"B3-nfd"' in bytes(row[3]))
    problem, fast = verdicts(row, history)
    assert problem is None and fast is not None and decomposed.encode() in bytes(row[3])
    composed = bytes(row[3]).replace(decomposed.encode(), "é".encode())
    problem, fast = verdicts(resigned(store, row, composed), history)
    assert problem is None and fast is not None and fast.hash != leaf_hash(bytes(row[3]))


def test_characters_beyond_the_bmp_are_left_to_the_full_path(store: Store, env: LedgerEnv) -> None:
    # JCS orders keys by UTF-16 code units: "\U0001f34a" sorts before "\ue000" there, after
    # it by code point. The fast path declines such entries; the full path decides.
    payload = {"\U0001f34a": "orange", "\ue000": "private"}
    env.ledger.append(Draft("B3", "lab.tested", WHEN, "coop-1", "B3-astral", payload), store.coop)
    env.session.commit()
    rows, history = rows_of(store)
    row = next(row for row in rows.values() if b'"B3-astral"' in bytes(row[3]))
    data = bytes(row[3])
    assert data.index("\U0001f34a".encode()) < data.index("\ue000".encode())
    problem, fast = verdicts(row, history)
    assert problem is None and fast is None
    assert check_chunk([row], history).problems == []
    jcs_order = '{"\U0001f34a":"orange","\ue000":"private"}'.encode()
    assert jcs_order in data
    code_point_order = data.replace(jcs_order, '{"\ue000":"private","\U0001f34a":"orange"}'.encode())
    problem, fast = verdicts(resigned(store, row, code_point_order), history)
    assert fast is None and problem is not None and "canonical" in problem


def _time_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


COLUMN_CHANGES: list[tuple[str, Callable[[Row], Row], bool]] = [
    ("entry_hash", lambda r: (*r[:2], bytes(32), *r[3:]), False),
    ("batch", lambda r: ("B1", *r[1:]), False),
    ("seq", lambda r: (r[0], r[1] + 1, *r[2:]), False),
    ("client_id", lambda r: (*r[:5], "other", *r[6:]), False),
    ("entry_type", lambda r: (*r[:6], "farming.input", *r[7:]), False),
    ("author", lambda r: (*r[:7], "lab-1", *r[8:]), False),
    ("key_id", lambda r: (*r[:8], "k0000000000000000", *r[9:]), False),
    ("signature flipped", lambda r: (*r[:4], bytes([r[4][0] ^ 1]) + bytes(r[4][1:]), *r[5:]), False),
    ("signature of 63 bytes", lambda r: (*r[:4], bytes(r[4][:63]), *r[5:]), False),
    ("signature of 65 bytes", lambda r: (*r[:4], bytes(r[4]) + b"\0", *r[5:]), False),
    ("neither leaf nor queued", lambda r: (*r[:10], None, False), False),
    ("leaf and queued", lambda r: (*r[:10], 7, True), False),
]


@pytest.mark.parametrize(("name", "change", "passes"), COLUMN_CHANGES, ids=[c[0] for c in COLUMN_CHANGES])
def test_a_changed_column_is_refused_by_both_paths(
    store: Store, name: str, change: Callable[[Row], Row], passes: bool
) -> None:
    row, history = special(store)
    problem, fast = verdicts(change(row), history)
    assert (problem is None) == passes and (fast is None) == (not passes), name


def recorded_at_forms(moment: datetime) -> list[tuple[str, object, bool]]:
    """(name, recorded_at column value, whether it holds `moment`) as either driver returns it."""
    tick = timedelta(microseconds=1)
    return [
        ("text as SQLAlchemy writes it", _time_text(moment), True),
        ("text with milliseconds only", _time_text(moment)[:-3], True),
        ("text one microsecond later", _time_text(moment + tick), False),
        ("text of another day", _time_text(moment + timedelta(days=1)), False),
        ("text that is no time", "yesterday", False),
        ("aware datetime", moment, True),
        ("aware datetime in +08:00", moment.astimezone(timezone(timedelta(hours=8))), True),
        ("naive datetime (UTC)", moment.replace(tzinfo=None), True),
        ("aware datetime one microsecond later", moment + tick, False),
        (
            "aware datetime, same wall time in +08:00",
            moment.replace(tzinfo=timezone(timedelta(hours=8))),
            False,
        ),
    ]


def test_the_recorded_at_column_is_compared_as_the_application_reads_it(store: Store) -> None:
    row, history = special(store)
    stamp = json.loads(bytes(row[3]))["recorded_at"]
    moment = parse_recorded_at(stamp)
    for name, column, holds in recorded_at_forms(moment):
        problem, fast = verdicts((*row[:9], column, *row[10:]), history)
        assert (problem is None) == holds, (name, problem)
        if holds and isinstance(column, str) and len(column) != 26:
            assert fast is None  # only the exact stored text takes the fast path
        if not holds:
            assert problem is not None and problem.startswith("column recorded_at is "), (name, problem)


def test_the_key_must_be_valid_at_the_recorded_time(store: Store) -> None:
    row, history = special(store)
    moment = parse_recorded_at(json.loads(bytes(row[3]))["recorded_at"])
    record = history.keys[row[8]]
    tick = timedelta(milliseconds=1)
    for changed, passes in [
        (replace(record, revoked_at=moment + tick), True),
        (replace(record, revoked_at=moment), False),
        (replace(record, valid_from=moment), True),
        (replace(record, valid_from=moment + tick), False),
        (replace(record, org="lab-1"), False),
        (replace(record, public_key=store.lab.public_key), False),
    ]:
        other = KeyHistory(store.root)
        other.keys = {**history.keys, record.key_id: changed}
        problem, _fast = verdicts(row, other)
        assert (problem is None) == passes, (changed, problem)
    other = KeyHistory(store.root)
    other.keys = {key_id: r for key_id, r in history.keys.items() if key_id != record.key_id}
    problem, _fast = verdicts(row, other)
    assert problem == f"entry.key: unknown key {record.key_id}"


def test_every_genuine_row_agrees_on_both_paths(store: Store) -> None:
    rows, history = rows_of(store)
    taken = 0
    for row in rows.values():
        problem, fast = verdicts(row, history)
        assert problem is None
        taken += fast is not None
    assert taken == len(rows)  # none of these has characters beyond the BMP


def test_fromisoformat_reads_a_stamp_as_parse_recorded_at_does() -> None:
    # _fast_link reads the validated stamp with datetime.fromisoformat alone.
    rng = random.Random(3339)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [datetime(2028, 2, 29, 23, 59, 59, 999000, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)]
    moments += [start + timedelta(milliseconds=rng.randrange(10**14)) for _ in range(2000)]
    for moment in moments:
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        assert datetime.fromisoformat(stamp) == parse_recorded_at(stamp) == moment


class _Hashes:
    """tlog.HashReader over the hashes stored so far (a list indexed by stored index)."""

    def __init__(self) -> None:
        self.stored: list[bytes] = []

    def read_hashes(self, indexes: list[int]) -> list[bytes]:
        return [self.stored[i] for i in indexes]


def test_the_frontier_stores_and_roots_what_tlog_does() -> None:
    rng = random.Random(6962)
    frontier, hashes, leaves = Frontier(), _Hashes(), []
    assert frontier.root() == merkle_tree_hash([])
    while len(leaves) < 600:
        batch = [rng.randbytes(32) for _ in range(rng.choice([1, 1, 2, 3, 7, 16, 33]))]
        expected = stored_hashes_for_batch(len(leaves), batch, hashes)
        assert frontier.append(batch) == expected
        hashes.stored += expected
        leaves += batch
        assert frontier.size == len(leaves)
        assert frontier.root() == tree_hash(len(leaves), hashes) == merkle_tree_hash(leaves)
