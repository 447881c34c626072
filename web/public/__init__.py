"""Pages for consumers: what a scan shows. No login, everything escaped, cacheable where it can be."""

from flask import Blueprint

bp = Blueprint("public", __name__)

import farmtrace.web.public.disclosure  # noqa: E402,F401  (项目信息公开, /disclosure)
from farmtrace.web.public import feedback, pages, resolver, views  # noqa: E402,F401  (registers routes on bp)
