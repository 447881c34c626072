"""Signing in and out: password login with slowdown and lockout, log out, log out everywhere,
the user's own account page (change password), and the language switch."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from farmtrace.trace.accounts import MIN_PASSWORD
from farmtrace.trace.errors import AuthenticationFailed, InvalidInput
from farmtrace.web.console import csrf, throttle
from farmtrace.web.console.access import (
    bump_generation,
    current_user,
    end_session,
    now,
    require,
    safe_next,
    start_session,
    user,
)
from farmtrace.web.console.pages import svc
from farmtrace.web.db import get_session
from farmtrace.web.i18n import LANG_COOKIE, LOCALES, translate

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    if request.method == "GET":
        target = safe_next(request.args.get("next"))
        if current_user() is not None:
            return redirect(target or url_for("console.home"))
        return _login_page(target, "", None, 200)
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    target = safe_next(request.form.get("next"))
    db = get_session()
    user_key = throttle.user_key(username)
    client_key = throttle.client_key(_secret(), request.remote_addr)
    moment = now()
    refusal = throttle.claim(db, {user_key: throttle.USER_POLICY, client_key: throttle.CLIENT_POLICY}, moment)
    # The attempt is counted even though this response may be a refusal (status >= 400
    # would roll the request's transaction back).
    db.commit()
    if refusal is not None:
        if refusal.locked:
            message = translate("login.locked", minutes=max(1, (refusal.retry_after + 59) // 60))
        else:
            message = translate("login.wait", seconds=refusal.retry_after)
        page, status = _login_page(target, username, message, 429)
        return Response(page, status, headers={"Retry-After": str(refusal.retry_after)})
    try:
        account = svc().accounts.authenticate(username, password)
    except AuthenticationFailed:
        return _login_page(target, username, translate("login.failed"), 401)
    throttle.succeeded(db, user_key, client_key, moment)
    start_session(db, account)
    csrf.rotate()
    return redirect(target or url_for("console.home"), code=303)


def _login_page(target: str | None, username: str, error: str | None, status: int) -> tuple[str, int]:
    html = render_template("console/login.html", next=target or "", username=username, error=error)
    return html, status


def _secret() -> bytes:
    key = current_app.secret_key
    if not key:  # the session interface loads it on first use; make sure it is loaded
        current_app.session_interface.get_signing_serializer(current_app)
        key = current_app.secret_key
    return key if isinstance(key, bytes) else str(key).encode("utf-8")


@bp.post("/logout")
def logout() -> Response:
    end_session(get_session())
    csrf.rotate()
    flash(translate("login.logged_out"), "ok")
    return redirect(url_for("console.auth.login"), code=303)


@bp.post("/logout-everywhere")
@require()
def logout_everywhere() -> Response:
    bump_generation(get_session(), user().id)
    session.clear()
    csrf.rotate()
    flash(translate("login.logged_out_everywhere"), "ok")
    return redirect(url_for("console.auth.login"), code=303)


@bp.get("/account")
@require()
def account() -> tuple[str, int]:
    return render_template("console/account.html", errors={}, general=None, min_password=MIN_PASSWORD), 200


@bp.post("/account/password")
@require()
def change_password() -> Response | tuple[str, int]:
    me = user()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    repeat = request.form.get("repeat_password", "")
    errors: dict[str, str] = {}
    services = svc()
    try:
        services.accounts.authenticate(me.username, current)
    except AuthenticationFailed:
        errors["current_password"] = translate("account.wrong_password")
    if new != repeat:
        errors["repeat_password"] = translate("account.mismatch")
    if not errors:
        try:
            account = services.accounts.set_password(me.username, new)
        except InvalidInput as exc:
            errors["new_password"] = (
                translate("account.too_short", n=MIN_PASSWORD) if len(new) < MIN_PASSWORD else exc.message
            )
        else:
            # Every other session of this user ends; this one starts again.
            db = get_session()
            bump_generation(db, me.id)
            start_session(db, account)
            csrf.rotate()
            flash(translate("account.password_changed"), "ok")
            return redirect(url_for("console.auth.account"), code=303)
    html = render_template("console/account.html", errors=errors, general=None, min_password=MIN_PASSWORD)
    return html, 422


@bp.get("/lang/<code>")
def language(code: str) -> Response:
    target = safe_next(request.args.get("next")) or url_for("console.home")
    response = redirect(target)
    if code in LOCALES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
