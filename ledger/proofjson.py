"""JSON encoding of Merkle proofs (docs/ledger-format.md, "Proofs in JSON").

    inclusion:    {"leaf_index": 5, "tree_size": 7, "hashes": ["<base64>", ...]}
    consistency:  {"size1": 3, "size2": 7, "hashes": ["<base64>", ...]}

Hashes are standard base64 with padding (RFC 4648 §4), as in C2SP formats, ordered as
RFC 9162 §2.1.3 / §2.1.4 (leaf end first). Parsing is strict: exactly these keys,
integers (not booleans or strings), canonical base64 of 32 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from farmtrace.ledger.encoding import b64encode, decode_hash
from farmtrace.ledger.errors import FormatError
from farmtrace.ledger.proof import verify_consistency, verify_inclusion


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"leaf_index": self.leaf_index, "tree_size": self.tree_size, "hashes": _encode(self.hashes)}

    @classmethod
    def from_json(cls, obj: object, where: str = "inclusion proof") -> InclusionProof:
        fields = _fields(obj, where, ("leaf_index", "tree_size", "hashes"))
        return cls(
            _count(fields["leaf_index"], f"{where}.leaf_index"),
            _count(fields["tree_size"], f"{where}.tree_size"),
            _decode(fields["hashes"], f"{where}.hashes"),
        )

    def verify(self, leaf_hash: bytes, root: bytes) -> None:
        verify_inclusion(self.leaf_index, self.tree_size, leaf_hash, list(self.hashes), root)


@dataclass(frozen=True)
class ConsistencyProof:
    size1: int
    size2: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"size1": self.size1, "size2": self.size2, "hashes": _encode(self.hashes)}

    @classmethod
    def from_json(cls, obj: object, where: str = "consistency proof") -> ConsistencyProof:
        fields = _fields(obj, where, ("size1", "size2", "hashes"))
        return cls(
            _count(fields["size1"], f"{where}.size1"),
            _count(fields["size2"], f"{where}.size2"),
            _decode(fields["hashes"], f"{where}.hashes"),
        )

    def verify(self, root1: bytes, root2: bytes) -> None:
        verify_consistency(self.size1, self.size2, list(self.hashes), root1, root2)


def _fields(obj: object, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: expected a JSON object, found {type(obj).__name__}")
    if set(obj) != set(keys):
        raise FormatError(f"{where}: expected keys {sorted(keys)}, found {sorted(map(str, obj))}")
    return obj


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormatError(f"{where}: expected a non-negative integer, found {value!r}")
    return value


def _encode(hashes: tuple[bytes, ...]) -> list[str]:
    return [b64encode(h) for h in hashes]


def _decode(value: object, where: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise FormatError(f"{where}: expected a list of base64 hashes, found {type(value).__name__}")
    return tuple(decode_hash(h, f"{where}[{i}]") for i, h in enumerate(value))
