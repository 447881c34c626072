"""Every code of a 100,000-code range, through a QR code and back: URI -> QR matrix -> image ->
zxing-cpp -> URI -> the right batch and serial.

segno takes about 0.8 ms of CPU per symbol, so 100,000 symbols would take over a minute; the
encoder here is segno's own output used through a property of QR codes: with the version,
error-correction level, mode and mask fixed, the symbol is an affine function over GF(2) of
the data bits (Reed-Solomon is linear, placement is a permutation, masking an XOR). Every
URI of a range differs only in its 20 serial characters, so its matrix is segno's matrix for
a base URI XOR segno-derived deltas for the serial's bits. The test checks the shortcut bit
for bit against segno.make on 2,000 of the URIs; bench/bench_codes.py runs all 100,000
through segno.make itself. The images are 1 pixel per module with a 2-module quiet zone,
the smallest that zxing-cpp decodes reliably, and two processes share the work.
"""

from __future__ import annotations

import multiprocessing
import random
from array import array

import pytest
from codes_testkit import DOMAIN, GTIN, PACKER, CodesEnv, make_codes_env

from farmtrace.trace.codes.export import plan_export
from farmtrace.trace.codes.facts import scan_facts
from farmtrace.trace.codes.models import CodeRange
from farmtrace.trace.codes.resolve import identify
from farmtrace.trace.gs1.qr_uri import QR_ALPHANUMERIC, qr_uri
from farmtrace.trace.serials import ALPHABET, SerialKeyring

segno = pytest.importorskip("segno")
zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")

COUNT = 100_000
BORDER = 2
SEGNO_SAMPLE = 1_000
DATABASE_SAMPLE_STEP = 499  # every 499th code also goes through the full database resolution
# ISO/IEC 18004 table 5: the alphanumeric-mode value of each character.
QR_ALNUM_VALUES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {char: value for value, char in enumerate(QR_ALNUM_VALUES)}


class AffineQr:
    """QR matrices for `prefix + serial` (20 serial characters), built from segno's matrices.

    Matrices are ints holding the 8-bit grey image (quiet zone included), so an XOR of
    ints is an XOR of modules and the int's bytes are the image.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        base = prefix + "0" * 20
        probe = self._segno(base, version=None)
        assert probe.mode == "alphanumeric"
        self.version = probe.version
        self.size = len(probe.matrix) + 2 * BORDER
        self.base = self.image_int(self._segno(base))
        self.groups: list[tuple[str, object, object]] = []
        length = len(base)
        for start in range(0, length, 2):  # alphanumeric mode encodes characters in pairs
            chars = [i for i in (start, start + 1) if i < length]
            if chars[-1] < len(prefix):
                continue
            if len(chars) == 1:  # a final single character: 6 bits
                basis = [self._delta({chars[0]: QR_ALNUM_VALUES[1 << k]}) for k in range(6)]
                self.groups.append(("bits", (chars[0],), basis))
            elif chars[0] >= len(prefix):  # a pair inside the serial: 11 bits
                basis = [
                    self._delta(
                        {chars[0]: QR_ALNUM_VALUES[(1 << k) // 45], chars[1]: QR_ALNUM_VALUES[(1 << k) % 45]}
                    )
                    for k in range(11)
                ]
                self.groups.append(("bits", tuple(chars), basis))
            else:  # a pair of the prefix's last character and the serial's first
                table = {c: self._delta({chars[1]: c}) for c in ALPHABET}
                self.groups.append(("table", chars[1], table))

    def _segno(self, text: str, version: int | None = -1) -> segno.QRCode:
        return segno.make(
            text,
            error="m",
            boost_error=False,
            micro=False,
            mask=0,
            version=self.version if version == -1 else version,
        )

    def _delta(self, changes: dict[int, str]) -> int:
        text = list(self.prefix + "0" * 20)
        for index, char in changes.items():
            text[index] = char
        return self.image_int(self._segno("".join(text))) ^ self.base

    def image_int(self, qr: segno.QRCode) -> int:
        size, out = self.size, bytearray(b"\xff" * self.size * self.size)
        for y, row in enumerate(qr.matrix):
            offset = (y + BORDER) * size + BORDER
            out[offset : offset + len(row)] = bytes(0 if dark else 255 for dark in row)
        return int.from_bytes(out, "big")

    def matrix(self, uri: str) -> int:
        assert uri.startswith(self.prefix) and len(uri) == len(self.prefix) + 20
        image = self.base
        for kind, where, data in self.groups:
            if kind == "table":
                image ^= data[uri[where]]  # type: ignore[index]
                continue
            value = 0
            for index in where:  # type: ignore[attr-defined]
                value = value * 45 + _VALUE[uri[index]]
            bit = 0
            while value:
                if value & 1:
                    image ^= data[bit]  # type: ignore[index]
                value >>= 1
                bit += 1
        return image

    def image(self, uri: str) -> Image.Image:
        return Image.frombytes(
            "L", (self.size, self.size), self.matrix(uri).to_bytes(self.size * self.size, "big")
        )


# Set in the parent before the workers fork; the workers only read them.
_JOB: dict[str, object] = {}


def _decode_share(share: int, shares: int) -> tuple[array, list[str]]:
    """Encode, render, decode and identify every `shares`-th URI from `share`; returns the
    code numbers found (in order) and any failures."""
    qr: AffineQr = _JOB["qr"]  # type: ignore[assignment]
    uris: list[str] = _JOB["uris"]  # type: ignore[assignment]
    keyring: SerialKeyring = _JOB["keyring"]  # type: ignore[assignment]
    numbers, failures = array("q"), []
    for uri in uris[share::shares]:
        results = zxingcpp.read_barcodes(qr.image(uri), formats=zxingcpp.BarcodeFormat.QRCode)
        text = results[0].text if len(results) == 1 else None
        if text != uri:
            failures.append(f"{uri}: decoded {[r.text for r in results]}")
            numbers.append(-1)
            continue
        code = identify(keyring, text)
        link = code.link
        if link is None or link.gtin != GTIN or link.lot != "LOT-A1":  # type: ignore[union-attr]
            failures.append(f"{uri}: parsed as {link}")
        numbers.append(code.n)
    return numbers, failures


@pytest.fixture
def env(county) -> CodesEnv:  # type: ignore[no-untyped-def]
    return make_codes_env(county)


def test_every_code_of_a_100000_code_range_survives_qr_and_resolves(env: CodesEnv) -> None:
    issued = env.codes.issue(PACKER, env.batch, COUNT)
    row = env.session.get(CodeRange, issued.range_id)
    first_n = row.first_n
    keyring = env.codes.keyring()
    uris = [uri for _serial, uri in plan_export(env.session, keyring, DOMAIN, env.batch, issued.range_id)]
    assert len(uris) == COUNT and len(set(uris)) == COUNT
    assert uris[0] == qr_uri(DOMAIN, issued.first_serial, gtin=GTIN, lot="LOT-A1")
    assert uris[-1] == qr_uri(DOMAIN, issued.last_serial, gtin=GTIN, lot="LOT-A1")
    assert all(set(uri) <= QR_ALPHANUMERIC for uri in uris[::1000])  # upper-case: alphanumeric mode

    qr = AffineQr(uris[0][:-20])
    for uri in [*random.Random(5).sample(uris, SEGNO_SAMPLE), uris[0], uris[-1]]:
        assert qr.matrix(uri) == qr.image_int(
            segno.make(uri, error="m", boost_error=False, micro=False, mask=0)
        )

    _JOB.update(qr=qr, uris=uris, keyring=keyring)
    shares = 2
    try:
        with multiprocessing.get_context("fork").Pool(shares) as pool:
            parts = pool.starmap(_decode_share, [(share, shares) for share in range(shares)])
    finally:
        _JOB.clear()
    failures = [failure for _numbers, part_failures in parts for failure in part_failures]
    assert failures == []
    numbers = [0] * COUNT
    for share, (part, _failures) in enumerate(parts):
        numbers[share::shares] = part
    assert numbers == list(range(first_n, first_n + COUNT))

    # The decoded URIs resolve through the database to this batch and serial (a sample).
    serials = [uri[-20:] for uri in uris]
    for index in [*range(0, COUNT, DATABASE_SAMPLE_STEP), COUNT - 1]:
        facts = scan_facts(env.session, uris[index], keyring=keyring, domain=DOMAIN)
        assert (facts.status, facts.batch_id, facts.serial, facts.range_id) == (
            "genuine",
            env.batch,
            serials[index],
            issued.range_id,
        )
    env.session.rollback()
