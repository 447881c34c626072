"""The embedded CBV 2.0 tables equal the published CBV terms and the EPCIS 2.0 JSON-LD context."""

from __future__ import annotations

import csv
import json

import pytest
from _paths import reference_dir

from farmtrace.trace.epcis import cbv
from farmtrace.trace.errors import EpcisInputError

EPCIS_DIR = reference_dir() / "epcis"


def _tsv_rows() -> list[dict[str, str]]:
    with (EPCIS_DIR / "cbv-bizstep-disposition.tsv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.parametrize(
    ("vocabulary", "table"), [("bizStep", cbv.BIZ_STEP_URIS), ("disposition", cbv.DISPOSITION_URIS)]
)
def test_terms_and_web_uris_equal_the_tsv(vocabulary: str, table: dict[str, str]) -> None:
    want = {row["bare_value"]: row["web_uri"] for row in _tsv_rows() if row["vocabulary"] == vocabulary}
    assert dict(table) == want


def test_tsv_counts() -> None:
    assert (len(cbv.BIZ_STEPS), len(cbv.DISPOSITIONS)) == (41, 33)


@pytest.mark.parametrize(
    ("vocabulary", "prefix"),
    [("bizStep", "urn:epcglobal:cbv:bizstep:"), ("disposition", "urn:epcglobal:cbv:disp:")],
)
def test_legacy_urns_map_to_the_tsv_web_uris(vocabulary: str, prefix: str) -> None:
    for row in _tsv_rows():
        if row["vocabulary"] == vocabulary:
            assert row["urn"].startswith(prefix)
            assert cbv.web_uri_of_legacy_urn(row["urn"]) == row["web_uri"]


def _context() -> dict:
    return json.loads((EPCIS_DIR / "epcis-context-2.0.0.jsonld").read_text(encoding="utf-8"))["@context"]


def _expanded(terms: dict[str, str]) -> dict[str, str]:
    prefixes = {"cbv:": cbv.CBV_WEB_PREFIX, "gs1:": cbv.GS1_VOC_PREFIX}
    out = {}
    for term, curie in terms.items():
        if isinstance(curie, str):
            for prefix, iri in prefixes.items():
                if curie.startswith(prefix):
                    out[term] = iri + curie[len(prefix) :]
    return out


def test_tables_equal_the_epcis_context_vocabularies() -> None:
    context = _context()
    report = context["sensorElementList"]["@context"]["sensorReport"]["@context"]
    pairs = [
        (cbv.BIZ_STEP_URIS, context["bizStep"]["@context"]),
        (cbv.DISPOSITION_URIS, context["disposition"]["@context"]),
        (cbv.BIZ_TRANSACTION_TYPE_URIS, context["bizTransactionList"]["@context"]["type"]["@context"]),
        (cbv.SOURCE_DESTINATION_TYPE_URIS, context["sourceList"]["@context"]["type"]["@context"]),
        (cbv.SOURCE_DESTINATION_TYPE_URIS, context["destinationList"]["@context"]["type"]["@context"]),
        (cbv.ERROR_REASON_URIS, context["errorDeclaration"]["@context"]["reason"]["@context"]),
        (cbv.MEASUREMENT_TYPE_URIS, report["type"]["@context"]),
        (cbv.SENSOR_ALERT_TYPE_URIS, report["exception"]["@context"]),
        (cbv.COMPONENT_URIS, report["component"]["@context"]),
    ]
    for table, terms in pairs:
        assert dict(table) == _expanded(terms)


def test_biz_step_value_accepts_terms_and_private_uris() -> None:
    assert cbv.biz_step_value("shipping") == "shipping"
    assert cbv.biz_step_value("https://trace.example.cn/ns/farmtrace/BizStep-applying_input").startswith(
        "https://"
    )


def test_biz_step_value_refuses_typos_and_legacy_urns() -> None:
    with pytest.raises(EpcisInputError) as info:
        cbv.biz_step_value("shiping")
    assert info.value.field == "bizStep"
    assert info.value.message == (
        "bizStep 'shiping' is neither a CBV 2.0 term (e.g. 'accepting') nor a URI of a private vocabulary"
    )
    with pytest.raises(EpcisInputError, match=r"^disposition 'urn:epcglobal:cbv:disp:recalled' is neither"):
        cbv.disposition_value("urn:epcglobal:cbv:disp:recalled")
