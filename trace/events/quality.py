"""Quality: lab tests (with the report's SHA-256), certificates, the operator's conformity decision."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from farmtrace.trace.events.fields import Choice, Day, DecimalText, ListOf, Moment, Pattern, Sha256, Text
from farmtrace.trace.events.schema import PayloadSchema
from farmtrace.trace.text import format_decimal
from farmtrace.trace.units import ANALYTE_UNITS

VERDICTS = ("pass", "fail")
LIMIT_KINDS = ("max", "min")
# Chinese standard numbers: GB/T 5009.199-2003, NY/T 761-2008, GB 23200.113-2018, SN/T 1923.
METHOD_STANDARD = re.compile(
    r"(GB|GB/T|NY|NY/T|SN|SN/T|DB\d{2}/T|DB\d{2}|LY/T|QB/T)\s?\d{1,5}(\.\d{1,4})*(-\d{4})?\Z"
)
METHOD_EXPECTED = "a method standard like 'GB/T 5009.199-2003' or 'NY/T 761-2008'"
CERT_SCHEMES = ("pollution_free", "green_food", "organic", "geographical_indication")
CONFORMITY = ("conformant", "non_conformant")


class LabResultSchema(PayloadSchema):
    analyte = Text(100, required=True)
    method = Pattern(METHOD_STANDARD, METHOD_EXPECTED, required=True)
    value = DecimalText(minimum=0, maximum=10**9, required=True)
    limit = DecimalText(minimum=0, maximum=10**9)
    limit_kind = Choice(LIMIT_KINDS)
    limit_standard = Text(64)
    unit = Choice(ANALYTE_UNITS, required=True)
    verdict = Choice(VERDICTS, required=True)

    @validates_schema
    def _verdict_matches_limit(self, data: dict[str, Any], **kwargs: Any) -> None:
        # A lab may fail a sample for reasons beyond the number, but it may not pass one
        # whose value breaks the limit it states: that is the cheat this check catches.
        limit, value = data.get("limit"), data.get("value")
        if limit is None or value is None or data.get("verdict") != "pass":
            return
        unit = data.get("unit", "")
        if data.get("limit_kind", "max") == "max" and value > limit:
            raise ValidationError(
                {
                    "verdict": f"expected 'fail': {format_decimal(value)} {unit} exceeds the limit {format_decimal(limit)} {unit}"
                }
            )
        if data.get("limit_kind") == "min" and value < limit:
            raise ValidationError(
                {
                    "verdict": f"expected 'fail': {format_decimal(value)} {unit} is below the minimum {format_decimal(limit)} {unit}"
                }
            )


class LabTestSchema(PayloadSchema):
    sample_id = Text(64, required=True)
    sampled_at = Moment()
    report_sha256 = Sha256(required=True)
    results = ListOf(fields.Nested(LabResultSchema), maximum=100, required=True)
    verdict = Choice(VERDICTS, required=True)
    notes = Text(500)

    @validates_schema
    def _overall_verdict(self, data: dict[str, Any], **kwargs: Any) -> None:
        results = data.get("results") or []
        failed = [i for i, r in enumerate(results) if r.get("verdict") == "fail"]
        verdict = data.get("verdict")
        if failed and verdict == "pass":
            raise ValidationError({"verdict": f"expected 'fail' because results[{failed[0]}] failed"})
        if results and not failed and verdict == "fail":
            raise ValidationError({"verdict": "expected 'pass' because every result passed"})


class CertificationSchema(PayloadSchema):
    scheme = Choice(CERT_SCHEMES, required=True)
    certificate_number = Text(64, required=True)
    issuer = Text(200, required=True)
    valid_from = Day(required=True)
    valid_until = Day(required=True)
    document_sha256 = Sha256()

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("valid_from"), data.get("valid_until")
        if start is not None and end is not None and end < start:
            raise ValidationError(
                {"valid_until": f"must not be before valid_from {start.isoformat()}, found {end.isoformat()}"}
            )


class ConformitySchema(PayloadSchema):
    decision = Choice(CONFORMITY, required=True)
    reason = Text(500, required=True)
