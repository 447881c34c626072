"""The resolver over HTTP (Flask test client, the engine under test): HTML in Chinese, JSON,
RFC 9264 linksets, redirects by link type, not-genuine answers and the enumeration limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from codes_testkit import DOMAIN, GTIN, GTIN_B, PACKER, CodesEnv, make_codes_env
from flask.testing import FlaskClient

from farmtrace.trace.codes.models import Allocator, CodeRange, Scan
from farmtrace.trace.gs1.digital_link import format_digital_link
from farmtrace.trace.gs1.qr_uri import format_short_uri, qr_uri
from farmtrace.trace.serials import check_character, make_serial
from farmtrace.web.app import create_app
from farmtrace.web.settings import Settings

BASE = f"https://{DOMAIN}"


@pytest.fixture
def env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    return make_codes_env(county)


@pytest.fixture
def client(env: CodesEnv, database_url: str, tmp_path: Path) -> FlaskClient:
    settings = Settings.from_env(
        {
            "FARMTRACE_HOME": str(tmp_path),  # the master key of tests/trace/conftest.py is in tmp_path/keys
            "FARMTRACE_DATABASE_URL": database_url,
            "FARMTRACE_PUBLIC_BASE_URL": BASE,
        }
    )
    return create_app(settings).test_client()


def issue(env: CodesEnv, batch: str, count: int) -> list[str]:
    issued = env.codes.issue(PACKER, batch, count)
    row = env.session.get(CodeRange, issued.range_id)
    key = env.codes.keyring().get(row.key_id)
    serials = [make_serial(key, n) for n in range(row.first_n, row.last_n + 1)]
    env.session.commit()
    return serials


def path_of(uri: str) -> str:
    return uri.split("://", 1)[1].partition("/")[1] + uri.split("://", 1)[1].partition("/")[2]


def scans(env: CodesEnv) -> int:
    count = env.count(Scan)
    env.session.commit()
    return count


def test_html_page_counts_scans_and_says_genuine_in_chinese(env: CodesEnv, client: FlaskClient) -> None:
    serial = issue(env, env.batch, 3)[0]
    uri = qr_uri(DOMAIN, serial, gtin=GTIN, lot="LOT-A1")
    assert uri.startswith("HTTPS://TRACE.EXAMPLE.ORG/01/")
    first = client.get(path_of(uri))
    assert first.status_code == 200 and first.mimetype == "text/html"
    assert (
        "正品码" in first.text
        and "横陂蜜柚" in first.text
        and "LOT-A1" in first.text
        and serial in first.text
    )
    assert "这是此码的首次扫描" in first.text
    assert first.headers["Link"] == f'<{uri}?linkType=all>; rel="linkset"; type="application/linkset+json"'
    assert first.headers["Cache-Control"] == "no-store"
    second = client.get(path_of(format_digital_link(DOMAIN, GTIN, "LOT-A1", serial.lower())))
    assert second.status_code == 200 and "已被扫描 2 次" in second.text
    english = client.get(path_of(uri), headers={"Accept-Language": "en"})
    assert "Genuine" in english.text and "scanned 3 times" in english.text
    assert scans(env) == 3


def test_short_form_both_cases(env: CodesEnv, client: FlaskClient) -> None:
    serial = issue(env, env.batch_no_gtin, 1)[0]
    for path in (f"/c/{serial}", f"/C/{serial}", f"/c/{serial.lower()}?from=singlemessage"):
        response = client.get(path)
        assert response.status_code == 200 and "横陂青菜" in response.text, path
    assert client.get(path_of(format_short_uri(DOMAIN, serial, uppercase=True))).status_code == 200


def test_json_and_head_do_not_count(env: CodesEnv, client: FlaskClient) -> None:
    serial = issue(env, env.batch, 1)[0]
    path = path_of(format_digital_link(DOMAIN, GTIN, "LOT-A1", serial))
    body = client.get(path, headers={"Accept": "application/json"})
    assert body.status_code == 200 and body.mimetype == "application/json"
    assert body.json["genuine"] is True and body.json["serial"] == serial
    assert body.json["batch"] == {"id": env.batch, "lot": "LOT-A1", "recalled": False}
    assert body.json["product"]["gtin"] == GTIN and body.json["scans"]["count"] == 0
    assert "n" not in body.json
    assert client.head(path).status_code == 200
    assert (
        client.get(path, headers={"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}).status_code == 200
    )
    assert scans(env) == 0


def test_linkset_and_link_type_redirects(env: CodesEnv, client: FlaskClient) -> None:
    serial = issue(env, env.batch, 1)[0]
    uri = qr_uri(DOMAIN, serial, gtin=GTIN, lot="LOT-A1")
    response = client.get(path_of(uri) + "?linkType=all")
    assert response.status_code == 200 and response.mimetype == "application/linkset+json"
    (context,) = response.json["linkset"]
    assert context["anchor"] == uri
    page = f"{BASE}{path_of(uri)}"  # the label URI with scheme and host in lower case
    assert context["https://gs1.org/voc/pip"][0]["href"] == page
    assert context["https://gs1.org/voc/pip"][0]["type"] == "text/html"
    assert context["https://gs1.org/voc/traceability"] == [
        {
            "href": f"{BASE}/api/v1/batches/{env.batch}/epcis",
            "type": "application/ld+json",
            "title": f"EPCIS 2.0 events of batch {env.batch}",
        }
    ]
    assert "https://gs1.org/voc/certificationInfo" not in context  # no certificates yet
    pip = client.get(path_of(uri) + "?linkType=gs1:pip")
    assert pip.status_code == 307 and pip.headers["Location"] == page
    assert scans(env) == 0


def test_linkset_lists_certificates(env: CodesEnv, client: FlaskClient) -> None:
    env.county.trace.products.add_certificate(
        "coop-hengpi",
        "hengpi-pomelo",
        {
            "scheme": "green_food",
            "certificate_number": "LB-18-1234567890",
            "issuer": "中国绿色食品发展中心",
            "valid_from": "2026-01-01",
            "valid_until": "2028-12-31",
        },
    )
    serial = issue(env, env.batch, 1)[0]
    uri = qr_uri(DOMAIN, serial, gtin=GTIN, lot="LOT-A1")
    links = client.get(path_of(uri) + "?linkType=all").json["linkset"][0][
        "https://gs1.org/voc/certificationInfo"
    ]
    assert links == [
        {
            "href": f"{BASE}{path_of(uri)}#cert-1",
            "type": "text/html",
            "title": "green_food LB-18-1234567890 (中国绿色食品发展中心, valid until 2028-12-31)",
        }
    ]
    page = client.get(path_of(uri))
    assert 'id="cert-1"' in page.text and "LB-18-1234567890" in page.text


def test_unknown_and_forged_codes_are_404_with_one_body(env: CodesEnv, client: FlaskClient) -> None:
    genuine = issue(env, env.batch, 2)
    key = env.codes.keyring().get(0)
    unissued = make_serial(key, env.session.get(Allocator, 1).next_n + 7)
    env.session.commit()
    payload = genuine[0][:9] + ("Z" if genuine[0][9] != "Z" else "Y") + genuine[0][10:19]
    forged = payload + check_character(payload)
    bodies = set()
    for serial in (unissued, forged):
        for path in (path_of(format_digital_link(DOMAIN, GTIN, "LOT-A1", serial)), f"/c/{serial}"):
            response = client.get(path)
            assert response.status_code == 404 and "不是有效的追溯码" in response.text
            bodies.add(response.text.replace(serial, "SERIAL"))
            as_json = client.get(path, headers={"Accept": "application/json"})
            assert as_json.status_code == 404 and as_json.json == {"genuine": False, "status": "not_genuine"}
    assert len(bodies) == 1
    # A genuine serial under another product's GTIN or another lot is not genuine either.
    for uri in (
        format_digital_link(DOMAIN, GTIN_B, "LOT-B1", genuine[1]),
        format_digital_link(DOMAIN, GTIN, "LOT-A2", genuine[1]),
    ):
        response = client.get(path_of(uri))
        assert response.status_code == 404 and response.text.replace(genuine[1], "SERIAL") in bodies
    assert scans(env) == 0


def test_typos_and_malformed_links_get_hints(env: CodesEnv, client: FlaskClient) -> None:
    serial = issue(env, env.batch, 1)[0]
    i = next(i for i in range(5, 18) if serial[i] != serial[i + 1])  # equal characters swap to the same code
    swapped = serial[:i] + serial[i + 1] + serial[i] + serial[i + 2 :]
    response = client.get(f"/c/{swapped}")
    assert (
        response.status_code == 404
        and "码有误，请核对" in response.text
        and "check character does not match" in response.text
    )
    bad_gtin = client.get(f"/01/09506000134353/10/LOT-A1/21/{serial}")
    assert (
        bad_gtin.status_code == 404
        and "无法识别的链接" in bad_gtin.text
        and "check digit is incorrect" in bad_gtin.text
    )
    script = client.get("/c/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert script.status_code == 404 and "<script>" not in script.text and "&lt;script&gt;" in script.text
    percent_lot = client.get(f"/01/{GTIN}/10/L%2F01/21/{serial}", headers={"Accept": "application/json"})
    assert (
        percent_lot.status_code == 404 and percent_lot.json["status"] == "not_genuine"
    )  # lot "L/01" is not ours


def test_voided_code_page(env: CodesEnv, client: FlaskClient) -> None:
    serial = issue(env, env.batch, 1)[0]
    env.codes.void(PACKER, "标签破损", code=serial)
    env.session.commit()
    response = client.get(f"/c/{serial}")
    assert response.status_code == 200 and "此码已作废：标签破损" in response.text
    assert client.get(f"/c/{serial}", headers={"Accept": "application/json"}).json["genuine"] is False


def test_enumeration_is_rate_limited_but_genuine_codes_still_resolve(
    env: CodesEnv, client: FlaskClient
) -> None:
    serial = issue(env, env.batch, 1)[0]
    key = env.codes.keyring().get(0)
    env.session.commit()
    statuses = []
    for index in range(25):
        payload = f"0{index:018d}"
        statuses.append(client.get(f"/c/{payload + check_character(payload)}").status_code)
    assert statuses[:20] == [404] * 20 and set(statuses[20:]) == {429}
    limited = client.get("/c/0000000000000000000X", headers={"Accept": "application/json"})
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1
    assert client.get(f"/c/{serial}").status_code == 200  # a real scan from the same client still works
    unissued = make_serial(key, 5_000)
    assert client.get(f"/c/{unissued}").status_code == 404  # valid MAC: looked up, not throttled
    # Another client is not affected.
    other = client.get("/c/00000000000000000000", environ_overrides={"REMOTE_ADDR": "198.51.100.9"})
    assert other.status_code == 404
