"""GS1 mod-10 check digits and GTIN validation.

GS1 General Specifications §7.9.1 "Standard check digit calculations for GS1 data
structures": working from the right and excluding the check digit, weight the digits
3, 1, 3, 1, ...; the check digit is (10 - sum mod 10) mod 10. The same rule serves
GTIN-8/12/13/14, GLN (13 digits) and SSCC (18 digits).
"""

from __future__ import annotations

from farmtrace.trace.errors import Gs1KeyError, GtinError

GTIN_LENGTHS = (8, 12, 13, 14)


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for `digits` (the key without its check digit), §7.9.1."""
    if not digits.isascii() or not digits.isdigit():
        raise Gs1KeyError("digits", f"Expected only digits 0-9, got {digits!r}.")
    total = 0
    for position, char in enumerate(reversed(digits)):
        # The digit next to the check digit has weight 3.
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def verify_check_digit(value: str, kind: str = "GTIN") -> None:
    """Raise Gs1KeyError unless the last digit of `value` is its GS1 mod-10 check digit.

    `kind` ("GTIN", "GLN", "SSCC") only names the key in the message.
    """
    error = GtinError if kind == "GTIN" else Gs1KeyError
    field = kind.lower()
    if not value.isascii() or not value.isdigit():
        raise error(field, f"Failed to parse {value!r} as {kind}: Expected a numerical value.")
    if len(value) < 2:
        raise error(
            field, f"Failed to parse {value!r} as {kind}: Expected at least 2 digits, got {len(value)}."
        )
    expected = gs1_check_digit(value[:-1])
    found = int(value[-1])
    if expected != found:
        raise error(field, f"Invalid {kind} check digit for {value!r}: Expected {expected}, got {found}.")


def validate_gtin(value: str) -> str:
    """Return `value` (GTIN-8, -12, -13 or -14) as a 14-digit GTIN, or raise GtinError.

    GS1 General Specifications §3.3.2: a shorter GTIN becomes a GTIN-14 by left-padding
    with zeros, which leaves its check digit unchanged. No whitespace is stripped.
    """
    if not value.isascii() or not value.isdigit():
        raise GtinError("gtin", f"Failed to parse {value!r} as GTIN: Expected a numerical value.")
    if len(value) not in GTIN_LENGTHS:
        raise GtinError(
            "gtin",
            f"Failed to parse {value!r} as GTIN: Expected 8, 12, 13 or 14 digits, got {len(value)}.",
        )
    verify_check_digit(value, "GTIN")
    return value.zfill(14)
