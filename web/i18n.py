"""Simplified Chinese first, English on request: `?lang=`, then a cookie, then Accept-Language.

The catalogue is plain dicts keyed by a stable message id; a missing English text falls back
to Chinese, never to the id, so a page is never left with raw keys.
"""

from __future__ import annotations

from flask import Flask, g, request

DEFAULT_LOCALE = "zh"
LOCALES = ("zh", "en")
LANG_COOKIE = "lang"

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "site.name": "农产品质量安全追溯",
        "site.tagline": "一物一码 · 扫码溯源",
        "nav.switch": "English",
        "index.title": "扫码溯源",
        "index.body": "扫描产品标签上的二维码，查看这批产品从田间到餐桌的全部记录，并在您的手机上核验记录的真实性。",
        "console.title": "工作台",
        "console.body": "合作社、检测机构、物流站点与县级运营方在此登记和查看记录。",
    },
    "en": {
        "site.name": "Farm produce traceability",
        "site.tagline": "One item, one code · scan to trace",
        "nav.switch": "中文",
        "index.title": "Scan to trace",
        "index.body": "Scan the QR code on a product label to see this batch's record from field to table, checked on your own phone.",
        "console.title": "Console",
        "console.body": "Cooperatives, labs, logistics stations and the county operator record and review here.",
    },
}


def select_locale() -> str:
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"], default=DEFAULT_LOCALE)
    return "en" if best and best.startswith("en") else "zh"


def translate(message_id: str, **values: object) -> str:
    locale = g.get("locale", DEFAULT_LOCALE)
    text = MESSAGES.get(locale, {}).get(message_id) or MESSAGES[DEFAULT_LOCALE][message_id]
    return text.format(**values) if values else text


def init_i18n(app: Flask) -> None:
    @app.before_request
    def _locale() -> None:
        g.locale = select_locale()

    app.jinja_env.globals.update(_=translate, other_locale=lambda: "en" if g.locale == "zh" else "zh")
