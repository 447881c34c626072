"""The few GS1 Application Identifiers farmtrace reads in Digital Link URIs.

The entries are copied, in its own notation, from GS1's Barcode Syntax Dictionary
(gs1/gs1-syntax-engine, src/c-lib/gs1-syntax-dictionary.txt): every AI that appears in
the shared Digital Link vectors, plus the dates, weights and origin data a farm label
might carry. An AI that is not here is an "unknown AI" and is refused where GS1's engine
would refuse an unknown AI. Notation, from the dictionary's header:

    AI[-AI]  [*]  Type[,linter...] ...  [req=AI,AI] [ex=AI,AI] [dlpkey[=q,q|q]]  # TITLE

Type is N (digits) or X (CSET 82) with a length "N14" or a range "X..20"; "[...]" marks
an optional final component. "*" (predefined length, no FNC1) does not matter here.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Final

_DICTIONARY: Final = """
00        * N18,csum,key                dlpkey                             # SSCC
01        * N14,csum,key                ex=02,255,37 dlpkey=22,10,21|235   # GTIN
10          X..20                       req=01,02,8006,8026                # BATCH/LOT
11        * N6,yymmd0                   req=01,02,8006,8026                # PROD DATE
13        * N6,yymmd0                   req=01,02,8006,8026                # PACK DATE
15        * N6,yymmd0                   req=01,02,8006,8026                # BEST BEFORE or BEST BY
16        * N6,yymmd0                   req=01,02,8006,8026                # SELL BY
17        * N6,yymmd0                   req=01,02,255,8006,8026            # USE BY or EXPIRY
21          X..20                       req=01,8006 ex=235                 # SERIAL
22          X..20                       req=01                             # CPV
235         X..28                       req=01                             # TPX
253         N13,csum,key [X..17]        dlpkey                             # GDTI
254         X..20                       req=414                            # GLN EXTENSION COMPONENT
30          N..8                        req=01,02                          # VAR. COUNT
3100-3105 * N6                          req=01,02 ex=310n                  # NET WEIGHT (kg)
3920-3929   N..15  req=01 req=30,31nn,32nn,35nn,36nn ex=392n,393n          # PRICE
414       * N13,csum,key                dlpkey=254|7040                    # LOC No.
7007        N6,yymmdd [N6],yymmdd       req=01,02                          # HARVEST DATE
90          X..30                                                          # INTERNAL
91-99       X..90                                                          # INTERNAL
"""


@dataclass(frozen=True)
class Component:
    """One part of an AI's data field: character set, length range, linters."""

    cset: str  # "N" digits, "X" CSET 82
    min_length: int
    max_length: int
    optional: bool
    linters: tuple[str, ...]


@dataclass(frozen=True)
class AiSpec:
    """What GS1 says about one AI, as far as Digital Link parsing needs it."""

    ai: str
    title: str
    components: tuple[Component, ...]
    requires: tuple[tuple[str, ...], ...]  # each group: at least one of these AIs present
    excludes: tuple[str, ...]  # none of these may be present ("310n" = any 310x)
    # Valid path sequences when this AI is a Digital Link primary key, else ().
    dl_paths: tuple[tuple[str, ...], ...]

    @property
    def is_dl_primary_key(self) -> bool:
        return bool(self.dl_paths)

    @property
    def min_length(self) -> int:
        return sum(c.min_length for c in self.components if not c.optional)

    @property
    def max_length(self) -> int:
        return sum(c.max_length for c in self.components)


def _parse_component(token: str) -> Component:
    optional = token.startswith("[")
    type_part, *linters = token.split(",")
    match = re.fullmatch(r"\[?([NX])(\d+|\.\.\d+)\]?", type_part)
    if match is None:  # pragma: no cover - the table above is fixed
        raise AssertionError(f"bad component {token!r}")
    cset, length = match.groups()
    if length.startswith(".."):
        low, high = 1, int(length[2:])
    else:
        low = high = int(length)
    return Component(cset, low, high, optional, tuple(linters))


def _dl_paths(ai: str, value: str | None) -> tuple[tuple[str, ...], ...]:
    """Expand "dlpkey=22,10,21|235" into every allowed path AI sequence.

    Each alternative lists optional qualifiers in their required order, so every
    order-preserving subset is valid (dl.c addDLkeyQualifiers).
    """
    if value is None:
        return ()
    paths: set[tuple[str, ...]] = {(ai,)}
    for alternative in filter(None, value.split("|")):
        qualifiers = alternative.split(",")
        for size in range(1, len(qualifiers) + 1):
            paths.update((ai, *subset) for subset in itertools.combinations(qualifiers, size))
    return tuple(sorted(paths))


def _parse_dictionary(text: str) -> dict[str, AiSpec]:
    table: dict[str, AiSpec] = {}
    for line in text.strip().splitlines():
        body, _, title = line.partition("#")
        tokens = body.split()
        ais, tokens = tokens[0], [t for t in tokens[1:] if t != "*"]
        components = tuple(_parse_component(t) for t in tokens if re.match(r"\[?[NX]", t))
        requires = tuple(tuple(t[4:].split(",")) for t in tokens if t.startswith("req="))
        excludes = tuple(x for t in tokens if t.startswith("ex=") for x in t[3:].split(","))
        dlpkey = next((t for t in tokens if t.startswith("dlpkey")), None)
        first, _, last = ais.partition("-")
        for number in range(int(first), int(last or first) + 1):
            ai = str(number).zfill(len(first))
            qualifier_text = None if dlpkey is None else dlpkey.partition("=")[2]
            table[ai] = AiSpec(
                ai=ai,
                title=title.strip(),
                components=components,
                requires=requires,
                excludes=excludes,
                dl_paths=_dl_paths(ai, qualifier_text),
            )
    return table


AI_TABLE: Final[dict[str, AiSpec]] = _parse_dictionary(_DICTIONARY)

# Every valid Digital Link path AI sequence, over all primary keys.
DL_PATH_SEQUENCES: Final = frozenset(path for spec in AI_TABLE.values() for path in spec.dl_paths)


def lookup_ai(ai: str) -> AiSpec | None:
    """The table entry for `ai` (exact match), or None for an AI we do not know."""
    return AI_TABLE.get(ai)


def ai_matches(pattern: str, ai: str) -> bool:
    """Whether `ai` matches a dictionary reference such as "01" or "31nn" ("n" = any digit)."""
    return len(pattern) == len(ai) and all(p == "n" or p == a for p, a in zip(pattern, ai, strict=True))
