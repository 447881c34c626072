"""The JSON API for machines (/api/v1): OpenAPI 3.1, bearer tokens, idempotent writes,
errors as RFC 9457 problem+json (farmtrace.web.problems). See docs/api.md.

Modules: spec (the OpenAPI document), auth (tokens and scopes), idempotency, pagination,
bulk, context (the request's TraceContext), schemas/ and one module per resource.
This file imports nothing at module level, so that farmtrace.web.models and
farmtrace.web.problems can import the API's models and errors without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

PREFIX = "/api/v1"


def init_app(app: Flask) -> None:
    """Register the API's blueprints, its OpenAPI document and its request hooks on `app`."""
    from flask import Response, g, request

    from farmtrace.web.api import auth, idempotency
    from farmtrace.web.api.errors import refuse_nul_characters
    from farmtrace.web.api.resources import BLUEPRINTS
    from farmtrace.web.api.spec import document_idempotency, make_api

    api = make_api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    document_idempotency(api)
    app.extensions["farmtrace.api"] = api

    @app.before_request
    def _authenticate_and_claim_key() -> Response | None:
        if not request.path.startswith(PREFIX + "/"):
            return None
        refuse_nul_characters()
        auth.load_principal()
        principal = g.api_principal
        return None if principal is None else idempotency.begin(principal.org_id)

    @app.after_request
    def _store_idempotent_response(response: Response) -> Response:
        return idempotency.finish(response)
