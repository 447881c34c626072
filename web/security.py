"""Security headers on every response (a strict CSP with no inline script and no eval), and
pages refuse a NUL character in their address or form before any view sees it."""

from __future__ import annotations

from flask import Flask, Response, abort, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def refuse_nul_in_pages(app: Flask) -> None:
    """A NUL in a page's path, query or form names nothing, and PostgreSQL refuses it in any
    text it is compared with (a 500 from deep inside a view). The API refuses it with its own
    problem (farmtrace.web.api.errors.refuse_nul_characters), naming the parameter."""

    @app.before_request
    def _refuse_nul() -> None:
        if request.path.startswith("/api/"):
            return
        if "\x00" in request.path:
            abort(400, "the address contains a NUL character")
        fields = list(request.args.items(multi=True))
        if request.method == "POST":
            fields += request.form.items(multi=True)
        for name, value in fields:
            if "\x00" in name or "\x00" in value:
                abort(400, f"{name.replace(chr(0), '')}: contains a NUL character")
