from __future__ import annotations

from flask import render_template

from farmtrace.web.public import bp


@bp.get("/")
def index() -> str:
    return render_template("public/index.html")
