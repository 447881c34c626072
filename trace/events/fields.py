"""marshmallow fields for payloads: strict about types, with messages people can act on.

Each field raises ValidationError with a reason that reads after the field's name
("payload.dose: must be greater than 0, found '-1'"); trace.events.schema flattens them.
Loaded values are Python objects (Decimal, datetime, date); `jsonable` turns a loaded
payload back into the JSON the ledger signs (decimals as strings, times in RFC 3339).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.gs1.charset import validate_lot
from farmtrace.trace.gs1.gtin import validate_gtin
from farmtrace.trace.text import (
    CLIENT_ID,
    PLACE_EXPECTED,
    PLACE_ID,
    SLUG,
    SLUG_EXPECTED,
    Problem,
    check_date,
    check_decimal,
    check_moment,
    check_pattern,
    check_text,
    describe,
    format_decimal,
)

BATCH_ID = re.compile(r"B[0-9A-HJKMNP-TV-Z]{12}\Z")
BATCH_EXPECTED = "a batch id like 'B7K3M9Q2X4D8P' ('B' and 12 Crockford base32 characters)"
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


class _Checked(fields.Field):
    """A field whose value is checked by a plain function raising Problem."""

    def _check(self, value: Any) -> Any:
        raise NotImplementedError

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        try:
            return self._check(value)
        except Problem as exc:
            raise ValidationError(exc.reason) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class Text(_Checked):
    """One line of text: no control characters, at most `max_length` characters, trimmed."""

    def __init__(self, max_length: int = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _check(self, value: Any) -> str:
        return check_text(value, max_length=self.max_length)


class Pattern(_Checked):
    def __init__(self, pattern: re.Pattern[str], expected: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pattern = pattern
        self.expected = expected

    def _check(self, value: Any) -> str:
        return check_pattern(value, self.pattern, self.expected)


def Slug(**kwargs: Any) -> Pattern:
    return Pattern(SLUG, SLUG_EXPECTED, **kwargs)


def PlaceRef(**kwargs: Any) -> Pattern:
    return Pattern(PLACE_ID, PLACE_EXPECTED, **kwargs)


def BatchRef(**kwargs: Any) -> Pattern:
    return Pattern(BATCH_ID, BATCH_EXPECTED, **kwargs)


def ClientId(**kwargs: Any) -> Pattern:
    return Pattern(CLIENT_ID, "1-128 letters, digits, '.', '_', ':' or '-'", **kwargs)


def Sha256(**kwargs: Any) -> Pattern:
    return Pattern(_SHA256, "64 lower-case hex digits (the SHA-256 of an uploaded document)", **kwargs)


class Lot(_Checked):
    """GS1 AI (10) batch/lot: 1-20 characters of CSET 82."""

    def _check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Problem(f"expected text, found {describe(value)}")
        try:
            validate_lot(value)
        except InvalidInput as exc:
            raise Problem(exc.message) from None
        return value


class Gtin(_Checked):
    """A GTIN-8/12/13/14 with a valid GS1 check digit, loaded as its 14-digit form."""

    def _check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Problem(f"expected the GTIN as text of digits, found {describe(value)}")
        try:
            return validate_gtin(value)
        except InvalidInput as exc:
            raise Problem(exc.message) from None


class DecimalText(_Checked):
    """A decimal sent as a string (or an integer), with an inclusive or exclusive range."""

    def __init__(
        self,
        *,
        minimum: Decimal | int | None = None,
        maximum: Decimal | int | None = None,
        min_inclusive: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.minimum = None if minimum is None else Decimal(minimum)
        self.maximum = None if maximum is None else Decimal(maximum)
        self.min_inclusive = min_inclusive

    def _check(self, value: Any) -> Decimal:
        number = check_decimal(value)
        if self.minimum is not None:
            if self.min_inclusive and number < self.minimum:
                raise Problem(f"must be at least {format_decimal(self.minimum)}, found {value!r}")
            if not self.min_inclusive and number <= self.minimum:
                raise Problem(f"must be greater than {format_decimal(self.minimum)}, found {value!r}")
        if self.maximum is not None and number > self.maximum:
            raise Problem(f"must be at most {format_decimal(self.maximum)}, found {value!r}")
        return number


def Quantity(**kwargs: Any) -> DecimalText:
    """A quantity of goods: more than 0, at most a billion (in whatever unit)."""
    return DecimalText(minimum=0, min_inclusive=False, maximum=10**9, **kwargs)


class Moment(_Checked):
    """An RFC 3339 date-time with an explicit UTC offset."""

    def _check(self, value: Any) -> datetime:
        return check_moment(value)


class Day(_Checked):
    def _check(self, value: Any) -> date:
        return check_date(value)


class WholeNumber(_Checked):
    """An integer (JSON number without fraction; not a boolean, not a string) in a range."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Problem(f"expected a whole number, found {describe(value)}")
        if not self.minimum <= value <= self.maximum:
            raise Problem(f"must be between {self.minimum} and {self.maximum}, found {value}")
        return value


class Flag(_Checked):
    def _check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Problem(f"expected true or false, found {describe(value)}")
        return value


def Choice(choices: Sequence[str], **kwargs: Any) -> fields.String:
    """One of `choices`, exactly (no case folding: these values are signed)."""
    return fields.String(
        validate=validate.OneOf(choices, error="expected one of {choices}, found {input!r}"),
        error_messages={"invalid": "expected text"},
        **kwargs,
    )


def ListOf(item: fields.Field, *, maximum: int, minimum: int = 1, **kwargs: Any) -> fields.List:
    expected = f"{minimum} to {maximum}" if minimum else f"at most {maximum}"

    def length(value: list[Any]) -> None:
        if not minimum <= len(value) <= maximum:
            raise ValidationError(f"expected {expected} items, found {len(value)}")

    return fields.List(item, validate=length, error_messages={"invalid": "expected a list"}, **kwargs)


def jsonable(value: Any) -> Any:
    """A loaded payload as the JSON the ledger signs: Decimal -> "1.5", datetime -> RFC 3339."""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value
