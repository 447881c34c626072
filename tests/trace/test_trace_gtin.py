"""GS1 mod-10 check digits and GTIN normalisation, against the shared vectors and biip."""

from __future__ import annotations

import csv

import pytest
from _paths import reference_dir
from biip.checksums import gs1_standard_check_digit
from hypothesis import given, settings
from hypothesis import strategies as st

from farmtrace.trace.errors import Gs1KeyError, GtinError, InvalidInput
from farmtrace.trace.gs1.gtin import gs1_check_digit, validate_gtin, verify_check_digit

VECTORS = reference_dir() / "digital-link" / "gtin-check-digit-vectors.tsv"


def _rows() -> list[dict[str, str]]:
    with VECTORS.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _rows()


def test_vector_file_has_every_row() -> None:
    assert len(ROWS) == 12


def _kind(row: dict[str, str]) -> str:
    return row["note"].split()[0].split("-")[0]  # "GTIN-14 ..." -> GTIN, "GLN-13 ..." -> GLN


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_check_digit_vector(row: dict[str, str]) -> None:
    value, kind = row["value"], _kind(row)
    assert kind in ("GTIN", "GLN", "SSCC")
    computed = gs1_check_digit(value[:-1])
    assert computed == gs1_standard_check_digit(value[:-1])  # biip agrees on every row
    if row["expected"] == "valid":
        assert computed == int(value[-1])
        verify_check_digit(value, kind)
        if kind == "GTIN":
            assert validate_gtin(value) == value.zfill(14)
    else:
        assert computed != int(value[-1])
        error = GtinError if kind == "GTIN" else Gs1KeyError
        with pytest.raises(error) as caught:
            verify_check_digit(value, kind)
        assert str(caught.value) == (
            f"Invalid {kind} check digit for {value!r}: Expected {computed}, got {value[-1]}."
        )
        if kind == "GTIN":
            with pytest.raises(GtinError):
                validate_gtin(value)


def test_message_like_biip() -> None:
    with pytest.raises(GtinError) as caught:
        validate_gtin("09520123456789")
    assert str(caught.value) == "Invalid GTIN check digit for '09520123456789': Expected 8, got 9."
    assert caught.value.field == "gtin"
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize(
    ("value", "gtin14"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("012345678905", "00012345678905"),  # GTIN-12
        ("9506000134352", "09506000134352"),  # GTIN-13
        ("09506000134352", "09506000134352"),  # GTIN-14
    ],
)
def test_validate_gtin_normalises_to_14_digits(value: str, gtin14: str) -> None:
    assert validate_gtin(value) == gtin14


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Failed to parse '' as GTIN: Expected a numerical value."),
        (" 9506000134352", "Failed to parse ' 9506000134352' as GTIN: Expected a numerical value."),
        ("95060001343A2", "Failed to parse '95060001343A2' as GTIN: Expected a numerical value."),
        (
            "９５０６０００１３４３５２",
            "Failed to parse '９５０６０００１３４３５２' as GTIN: Expected a numerical value.",
        ),
        ("950600013435", "Invalid GTIN check digit for '950600013435': Expected 9, got 5."),
        ("12345", "Failed to parse '12345' as GTIN: Expected 8, 12, 13 or 14 digits, got 5."),
        (
            "009506000134352",
            "Failed to parse '009506000134352' as GTIN: Expected 8, 12, 13 or 14 digits, got 15.",
        ),
    ],
)
def test_validate_gtin_refuses(value: str, message: str) -> None:
    with pytest.raises(GtinError) as caught:
        validate_gtin(value)
    assert str(caught.value) == message


def test_check_digit_needs_digits() -> None:
    with pytest.raises(Gs1KeyError, match=r"Expected only digits 0-9, got '12a'"):
        gs1_check_digit("12a")


@settings(max_examples=200)
@given(st.text(alphabet="0123456789", min_size=1, max_size=17))
def test_check_digit_agrees_with_biip(digits: str) -> None:
    check = gs1_check_digit(digits)
    assert check == gs1_standard_check_digit(digits)
    verify_check_digit(digits + str(check))
    with pytest.raises(Gs1KeyError):
        verify_check_digit(digits + str((check + 1) % 10))
