"""Units of quantity, dose, temperature and lab results, and exact conversions between them.

Quantities are Decimals (JSON strings on the wire, never floats). Mass and volume units
convert within their dimension; each count unit (box, bottle, ...) is a dimension of its own,
so "12 boxes" can never be subtracted from "300 kg". 斤 (jin) is the legal half-kilogram.
"""

from __future__ import annotations

from decimal import Decimal

from farmtrace.trace.errors import InvalidInput
from farmtrace.trace.text import format_decimal

# unit -> (dimension, factor to the dimension's base unit)
QUANTITY_UNITS: dict[str, tuple[str, Decimal]] = {
    "g": ("mass", Decimal("0.001")),
    "kg": ("mass", Decimal(1)),
    "jin": ("mass", Decimal("0.5")),
    "t": ("mass", Decimal(1000)),
    "mL": ("volume", Decimal("0.001")),
    "L": ("volume", Decimal(1)),
    "piece": ("piece", Decimal(1)),
    "box": ("box", Decimal(1)),
    "bag": ("bag", Decimal(1)),
    "bottle": ("bottle", Decimal(1)),
    "jar": ("jar", Decimal(1)),
    "carton": ("carton", Decimal(1)),
    "crate": ("crate", Decimal(1)),
}
PACKAGE_KINDS = ("box", "bag", "bottle", "jar", "carton", "crate", "piece")

# Farming input doses: per 亩 (mu, 1/15 ha), per hectare, or a dilution ratio (倍液, "times").
DOSE_UNITS = ("g/mu", "kg/mu", "mL/mu", "L/mu", "g/ha", "kg/ha", "mL/ha", "L/ha", "times")

# Units a lab result may be reported in (GB 2763 residues in mg/kg; spirits in %vol; ...).
ANALYTE_UNITS = (
    "mg/kg",
    "μg/kg",
    "mg/L",
    "μg/L",
    "g/kg",
    "g/100g",
    "g/L",
    "%",
    "%vol",
    "CFU/g",
    "CFU/mL",
    "MPN/100g",
    "pH",
)

# UN/ECE Recommendation 20 codes for EPCIS quantityList.uom.
UNECE_CODES = {
    "g": "GRM",
    "kg": "KGM",
    "t": "TNE",
    "mL": "MLT",
    "L": "LTR",
    "piece": "H87",
    "box": "XBX",
    "bag": "XBG",
    "bottle": "XBO",
    "jar": "XJR",
    "carton": "XCT",
    "crate": "XCR",
}

TEMPERATURE_MIN_C = Decimal(-60)
TEMPERATURE_MAX_C = Decimal(80)


def dimension(unit: str) -> str:
    return QUANTITY_UNITS[unit][0]


def describe_dimension(unit: str) -> str:
    dim = dimension(unit)
    units = [name for name, (d, _) in QUANTITY_UNITS.items() if d == dim]
    if len(units) == 1:
        return f"'{unit}'"
    return f"a unit of {dim} ({', '.join(units)})"


def convert(field: str, quantity: Decimal, unit: str, to_unit: str) -> Decimal:
    """`quantity` in `unit` expressed in `to_unit`, exactly; InvalidInput if the dimensions differ."""
    dim, factor = QUANTITY_UNITS[unit]
    to_dim, to_factor = QUANTITY_UNITS[to_unit]
    if dim != to_dim:
        raise InvalidInput(
            field,
            f"{field}: expected {describe_dimension(to_unit)} like the batch's {to_unit}, found {unit!r}",
        )
    if unit == to_unit:
        return quantity
    return quantity * factor / to_factor


def for_uom(quantity: Decimal, unit: str) -> tuple[Decimal, str]:
    """A quantity in a unit that has a UN/ECE code (jin is exported as kilograms)."""
    if unit == "jin":
        return quantity * QUANTITY_UNITS["jin"][1], "KGM"
    return quantity, UNECE_CODES[unit]


def show(quantity: Decimal, unit: str) -> str:
    return f"{format_decimal(quantity)} {unit}"
