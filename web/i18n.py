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
        # Scan page (web/public/resolver.py, templates/public/scan.html)
        "scan.genuine": "正品码：这是我们签发的追溯码",
        "scan.genuine.explain": "此码由本平台为下列批次签发，扫码记录已保存。",
        "scan.voided": "此码已作废",
        "scan.voided.explain": "此码由本平台签发，但已被作废（例如标签损坏或印错）。带有此码的商品不应出售。",
        "scan.not_genuine": "不是有效的追溯码",
        "scan.not_genuine.explain": "本平台没有签发过这个码。如果它印在商品上，这件商品可能是仿冒品，请联系销售方或当地市场监管部门。",
        "scan.typo": "码有误，请核对",
        "scan.typo.explain": "这个码的校验位不对，可能输错了一个字符或调换了两个相邻字符。请对照标签重新输入（0 与 O、1 与 I 或 L 视为相同）。",
        "scan.invalid": "无法识别的链接",
        "scan.invalid.explain": "这不是本平台追溯码的链接格式。请直接扫描商品标签上的二维码。",
        "scan.product": "产品",
        "scan.gtin": "商品条码",
        "scan.batch": "批次",
        "scan.lot": "批号",
        "scan.serial": "追溯码",
        "scan.count": "扫码次数",
        "scan.count_value": "{count} 次（首次 {since}）",
        "scan.count_none": "尚无扫码记录",
        "scan.certificates": "认证",
        "scan.valid_until": "有效期至 {date}",
        "scan.throttled": "查询过于频繁，请 {seconds} 秒后再试。",
        "signal.first_scan": "这是此码的首次扫描。",
        "signal.repeat_scans": "此码自 {since} 起已被扫描 {count} 次。如果包装是密封的、您是第一位打开的人，这件商品可能是复制的标签。",
        "signal.not_packed": "这批产品尚未登记包装，此码却已被扫描（首次 {since}）。",
        "signal.before_packing": "此码在这批产品登记包装之前就被扫描过（首次 {since}）。",
        "signal.voided": "此码已作废：{reason}",
        "signal.burst": "此码在 24 小时内于 {count} 个不同地区被扫描，可能被复制。",
        "signal.recalled": "这批产品已被召回，请勿食用，并联系销售方。",
    },
    "en": {
        "site.name": "Farm produce traceability",
        "site.tagline": "One item, one code · scan to trace",
        "nav.switch": "中文",
        "index.title": "Scan to trace",
        "index.body": "Scan the QR code on a product label to see this batch's record from field to table, checked on your own phone.",
        "console.title": "Console",
        "console.body": "Cooperatives, labs, logistics stations and the county operator record and review here.",
        # Scan page (web/public/resolver.py, templates/public/scan.html)
        "scan.genuine": "Genuine: this is a code we issued",
        "scan.genuine.explain": "This code was issued by this service for the batch below; your scan has been recorded.",
        "scan.voided": "This code has been voided",
        "scan.voided.explain": "This code was issued here but has since been voided (a damaged or misprinted label). Items carrying it should not be on sale.",
        "scan.not_genuine": "Not a genuine code",
        "scan.not_genuine.explain": "This service never issued this code. If it is printed on a product, the product may be counterfeit: contact the seller or the local market regulator.",
        "scan.typo": "This code looks mistyped",
        "scan.typo.explain": "The code's check character does not match: a character was probably mistyped or two neighbours swapped. Please compare it with the label (0 and O, 1 and I or L count as the same).",
        "scan.invalid": "Link not recognised",
        "scan.invalid.explain": "This is not the form of a link to one of our codes. Please scan the QR code on the product label.",
        "scan.product": "Product",
        "scan.gtin": "GTIN",
        "scan.batch": "Batch",
        "scan.lot": "Lot",
        "scan.serial": "Code",
        "scan.count": "Scans",
        "scan.count_value": "{count} (first on {since})",
        "scan.count_none": "not scanned yet",
        "scan.certificates": "Certificates",
        "scan.valid_until": "valid until {date}",
        "scan.throttled": "Too many lookups; please try again in {seconds} seconds.",
        "signal.first_scan": "This is the first scan of this code.",
        "signal.repeat_scans": "This code has been scanned {count} times since {since}. If the pack was sealed and you are the first to open it, the label may be a copy.",
        "signal.not_packed": "This batch is not recorded as packed yet, but its code has been scanned (first on {since}).",
        "signal.before_packing": "This code was scanned before its batch was recorded as packed (first on {since}).",
        "signal.voided": "This code has been voided: {reason}",
        "signal.burst": "This code was scanned in {count} different places within 24 hours: it may have been copied.",
        "signal.recalled": "This batch has been recalled: do not eat it, and contact the seller.",
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
