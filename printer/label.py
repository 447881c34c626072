"""LabelData: the values printed on one label, the input of every renderer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from farmtrace.printer.errors import LabelDataError

_REQUIRED_TEXT = ("uri", "serial", "product_name", "lot", "producer")


@dataclass(frozen=True)
class LabelData:
    """One item's label.

    `uri` is what the QR holds (any str; uppercase GS1 Digital Link URIs encode in QR
    alphanumeric mode and come out smaller). `brand` is the county brand line, if any.
    """

    uri: str
    serial: str
    product_name: str
    lot: str
    packed_on: dt.date
    producer: str
    brand: str | None = None

    def __post_init__(self) -> None:
        for field in _REQUIRED_TEXT:
            value = getattr(self, field)
            if not isinstance(value, str):
                raise LabelDataError(
                    f"LabelData.{field}: expected str, found {type(value).__name__} {value!r}"
                )
            if not value.strip():
                raise LabelDataError(f"LabelData.{field}: expected non-empty text, found {value!r}")
            _reject_control(field, value)
        if self.brand is not None:
            if not isinstance(self.brand, str):
                raise LabelDataError(
                    f"LabelData.brand: expected str or None, found {type(self.brand).__name__}"
                )
            _reject_control("brand", self.brand)
        # datetime is a subclass of date; a timestamp here means a caller mixed up fields.
        if not isinstance(self.packed_on, dt.date) or isinstance(self.packed_on, dt.datetime):
            raise LabelDataError(
                "LabelData.packed_on: expected datetime.date, "
                f"found {type(self.packed_on).__name__} {self.packed_on!r}"
            )

    @property
    def packed_on_text(self) -> str:
        """The packing date as printed (ISO 8601, read the same in every locale)."""
        return self.packed_on.isoformat()


def _reject_control(field: str, value: str) -> None:
    # Control characters would end a ZPL/TSPL command or a text line on the printer.
    for ch in value:
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            raise LabelDataError(
                f"LabelData.{field}: expected printable text, found control character "
                f"U+{ord(ch):04X} in {value!r}"
            )
