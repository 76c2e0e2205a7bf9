"""The browser sign-in: the login page, the signed-in page, sign-out (HTML, Quart templates)."""

from __future__ import annotations

from urllib.parse import urlsplit

from quart import Blueprint, Response, redirect, render_template, request
from quart_schema import DataSource, document_querystring, document_request, tag

from service import security
from service.errors import BadCredentials, CsrfFailed, HashingBusy, LoginRateLimited
from service.routes.apidoc import HTML, Answer, ErrorDoc, answers, errors, without_database
from service.schemas.pages import LoginForm, LoginPageQuery, LogoutForm

bp = Blueprint("pages", __name__)

DEFAULT_NEXT = "/account"
GENERIC_FAILURE = "Invalid email or password."
PAGE_HEADERS = {
    # No inline scripts or styles anywhere: the one stylesheet comes from /static.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


REDIRECT_BODY = "<!doctype html><title>Redirecting...</title>"


def page(status: int, description: str, *headers: str) -> Answer:
    return Answer(status, description, HTML, headers=headers)


def redirect_to(description: str, *headers: str) -> Answer:
    return Answer(303, description, HTML, example=REDIRECT_BODY, headers=("Location", *headers))


@bp.after_request
async def _page_headers(response: Response) -> Response:
    response.headers.update(PAGE_HEADERS)
    return response


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in; anything else (other hosts, schemes,
    protocol-relative or backslash tricks) falls back to the account page."""
    if not target or len(target) > 2048 or not target.startswith("/"):
        return DEFAULT_NEXT
    if target.startswith(("//", "/\\")) or any(c.isspace() or ord(c) < 32 for c in target):
        return DEFAULT_NEXT
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return DEFAULT_NEXT
    return target


async def _login_form(
    *, status: int = 200, error: str | None = None, email: str = "", next_: str | None = None
) -> Response:
    html = await render_template(
        "login.html",
        csrf_token=security.csrf_token(),
        next=safe_next(next_),
        error=error,
        email=email,
    )
    return Response(html, status=status, content_type="text/html; charset=utf-8")


@bp.get("/login")
@tag(["pages"])
@without_database
@document_querystring(LoginPageQuery)
@answers(page(200, "The sign-in form (HTML), with the session's CSRF token in a hidden field."))
async def login_page() -> Response:
    """The sign-in page.

    A plain HTML form: no scripts, one stylesheet, a strict Content-Security-Policy.
    """
    return await _login_form(next_=request.args.get("next"))


@bp.post("/login")
@tag(["pages"])
@document_request(LoginForm, source=DataSource.FORM)
@answers(
    redirect_to(
        "Signed in: a new session cookie, then `next` (if local) or /account.", "Set-Cookie"
    ),
    page(401, "The form again with one message, for every wrong or incomplete login."),
    page(403, "The form again: the CSRF token was missing or stale (the session expired)."),
    page(429, "The form again: too many failed logins; wait `Retry-After` seconds."),
    page(503, "The form again: the server is busy hashing passwords; wait `Retry-After`."),
)
async def login_submit() -> Response:
    """Sign in from the form.

    Checks the credentials as `POST /api/users/login` does (same limits), then starts a
    fresh signed session (cookie `conduit_session`) and redirects.
    """
    form = await request.form
    email, password = form.get("email", "").strip(), form.get("password", "")
    next_ = form.get("next")
    try:
        security.check_csrf(form.get(security.CSRF_FIELD))
    except CsrfFailed:
        return await _login_form(
            status=403, error="Your session expired. Please sign in again.", next_=next_
        )
    if not email or not password or len(email) > 320 or len(password) > 256:
        return await _login_form(status=401, error=GENERIC_FAILURE, email=email[:320], next_=next_)
    try:
        user = await security.authenticate(email, password)
    except BadCredentials:
        return await _login_form(status=401, error=GENERIC_FAILURE, email=email, next_=next_)
    except (LoginRateLimited, HashingBusy) as exc:
        error = (
            f"Too many attempts. Try again in {exc.retry_after} seconds."
            if isinstance(exc, LoginRateLimited)
            else f"The service is busy. Try again in {exc.retry_after} seconds."
        )
        response = await _login_form(status=exc.status, error=error, email=email, next_=next_)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    await security.sign_in(user)
    return redirect(safe_next(next_), 303)  # type: ignore[return-value]


@bp.get("/account")
@tag(["pages"])
@answers(
    page(200, "Who is signed in, their role, and the sign-out button (HTML)."),
    redirect_to("Not signed in: to the sign-in page, coming back here after."),
)
async def account() -> Response:
    """The signed-in page.

    Shows the session's user; its `<meta name="csrf-token">` gives scripts the CSRF token.
    """
    user = await security.session_user()
    if user is None:
        return redirect("/login?next=/account", 303)  # type: ignore[return-value]
    html = await render_template("account.html", user=user, csrf_token=security.csrf_token())
    return Response(html, content_type="text/html; charset=utf-8")


@bp.post("/logout")
@tag(["pages"])
@document_request(LogoutForm, source=DataSource.FORM)
@answers(redirect_to("Signed out: the session is cleared, then the sign-in page."))
@errors(ErrorDoc.of(CsrfFailed, "the form field and `X-CSRF-Token` are both missing or wrong"))
async def logout() -> Response:
    """Sign out.

    Ends the browser session. Needs the session's CSRF token, in the form or the header.
    """
    form = await request.form
    security.check_csrf(form.get(security.CSRF_FIELD) or request.headers.get(security.CSRF_HEADER))
    await security.sign_out()  # the session ends on the server: a copied cookie is worthless
    return redirect("/login", 303)  # type: ignore[return-value]


@bp.post("/logout-all")
@tag(["pages"])
@document_request(LogoutForm, source=DataSource.FORM)
@answers(
    redirect_to(
        "Signed out everywhere: every session and token of the account ended (or, without a "
        "signed-in session, nothing to end), then the sign-in page."
    )
)
@errors(ErrorDoc.of(CsrfFailed, "the form field and `X-CSRF-Token` are both missing or wrong"))
async def logout_everywhere() -> Response:
    """Sign out everywhere.

    The account page's second button: ends every browser session and revokes every token of
    the signed-in account, this session included. Needs the session's CSRF token, in the form
    or the header.
    """
    form = await request.form
    security.check_csrf(form.get(security.CSRF_FIELD) or request.headers.get(security.CSRF_HEADER))
    user = await security.session_user()
    if user is not None:
        await security.sign_out_everywhere(user)
    return redirect("/login", 303)  # type: ignore[return-value]
