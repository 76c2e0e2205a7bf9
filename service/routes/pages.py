"""The browser pages: sign-in, sign-up, the signed-in account page (password change),
sign-out and password reset (HTML, Quart templates)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from quart import Blueprint, Response, redirect, render_template, request, session
from quart_schema import DataSource, document_querystring, document_request, tag

from service import db, security
from service.errors import (
    BadCredentials,
    CsrfFailed,
    EmailTaken,
    HashingBusy,
    Invalid,
    LoginRateLimited,
    PasswordResetRateLimited,
    RegistrationRateLimited,
    ResetTokenInvalid,
    UsernameTaken,
)
from service.models import User
from service.routes.apidoc import HTML, Answer, ErrorDoc, answers, errors, without_database
from service.routes.errors import validation_errors
from service.schemas.pages import (
    LoginForm,
    LoginPageQuery,
    LogoutForm,
    PasswordChange,
    PasswordChangeForm,
    SignupForm,
)
from service.schemas.password_resets import (
    TOKEN_MAX,
    ResetConfirmForm,
    ResetPageQuery,
    ResetRequestForm,
)
from service.schemas.users import PASSWORD_MAX, PASSWORD_MIN, NewUser
from service.services import password_resets as password_reset_service

bp = Blueprint("pages", __name__)

DEFAULT_NEXT = "/account"
GENERIC_FAILURE = "Invalid email or password."
FORM_EXPIRED = "The form expired. Please try again."
SESSION_ENDED = "Your session ended. Please sign in again."
CHECK_FIELDS = "Please correct the fields marked below."
NOTICES = {
    "password-changed": "Your password was changed. "
    "Every other session and API token was signed out.",
}
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
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)  # a page may set its own (Referrer-Policy)
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


def invalid_fields(model: type[BaseModel], values: dict[str, str]) -> dict[str, list[str]]:
    """Each field of a form that `model` refuses, with the API's messages (a JSON body with
    the same values would get them in its 422)."""
    errors: dict[str, list[str]] = {
        name: ["can't be blank" if not value else "must not contain NUL characters"]
        for name, value in values.items()
        if not value or "\x00" in value
    }
    try:
        model.model_validate(values)
    except ValidationError as exc:
        for name, messages in validation_errors(exc).items():
            errors.setdefault(name, messages)
    return errors


def busy_message(exc: LoginRateLimited | RegistrationRateLimited | HashingBusy) -> str:
    if isinstance(exc, HashingBusy):
        return f"The service is busy. Try again in {exc.retry_after} seconds."
    return f"Too many attempts. Try again in {exc.retry_after} seconds."


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


async def _signup_form(
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, list[str]] | None = None,
    username: str = "",
    email: str = "",
) -> Response:
    html = await render_template(
        "signup.html",
        csrf_token=security.csrf_token(),
        error=error,
        errors=errors or {},
        username=username,
        email=email,
    )
    return Response(html, status=status, content_type="text/html; charset=utf-8")


@bp.get("/signup")
@tag(["pages"])
@without_database
@answers(page(200, "The sign-up form (HTML), with the session's CSRF token in a hidden field."))
async def signup_page() -> Response:
    """The sign-up page.

    A plain HTML form beside the sign-in page: no scripts, one stylesheet, the same
    Content-Security-Policy.
    """
    return await _signup_form()


@bp.post("/signup")
@tag(["pages"])
@document_request(SignupForm, source=DataSource.FORM)
@answers(
    redirect_to("Signed up and signed in: a new session cookie, then /account.", "Set-Cookie"),
    page(403, "The form again: the CSRF token was missing or stale (the session expired)."),
    page(409, "The form again: the username or the email is taken, as `POST /api/users` says."),
    page(422, "The form again, with each field's problem beside it (the API's rules)."),
    page(429, "The form again: too many registrations from this address; wait `Retry-After`."),
    page(503, "The form again: the server is busy hashing passwords; wait `Retry-After`."),
)
async def signup_submit() -> Response:
    """Sign up from the form.

    Creates the account as `POST /api/users` does (the same checks, the same per-address
    registration limit), then signs the browser in with a fresh session and redirects to
    /account.
    """
    form = await request.form
    values = {
        "username": form.get("username", "").strip(),
        "email": form.get("email", "").strip(),
        "password": form.get("password", ""),
    }
    shown = {"username": values["username"][:256], "email": values["email"][:320]}
    try:
        security.check_csrf(form.get(security.CSRF_FIELD))
    except CsrfFailed:
        return await _signup_form(status=403, error=FORM_EXPIRED, **shown)
    problems = invalid_fields(NewUser, values)
    if problems:
        return await _signup_form(status=422, error=CHECK_FIELDS, errors=problems, **shown)
    try:
        user = await security.register(values["username"], values["email"], values["password"])
    except (Invalid, UsernameTaken, EmailTaken) as exc:
        return await _signup_form(
            status=exc.status, error=CHECK_FIELDS, errors=exc.to_dict(), **shown
        )
    except (RegistrationRateLimited, HashingBusy) as exc:
        response = await _signup_form(status=exc.status, error=busy_message(exc), **shown)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    await security.sign_in(user)
    return redirect(DEFAULT_NEXT, 303)  # type: ignore[return-value]


@bp.get("/account")
@tag(["pages"])
@answers(
    page(200, "Who is signed in, their role, the password form and the sign-out buttons."),
    redirect_to("Not signed in: to the sign-in page, coming back here after."),
)
async def account() -> Response:
    """The signed-in page.

    Shows the session's user, the password form and the sign-out buttons; its
    `<meta name="csrf-token">` gives scripts the CSRF token.
    """
    user = await security.session_user()
    if user is None:
        return redirect("/login?next=/account", 303)  # type: ignore[return-value]
    notice = NOTICES.get(str(session.pop("notice", "")))
    return await _account_page(user, notice=notice)


async def _account_page(
    user: User,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, list[str]] | None = None,
    notice: str | None = None,
) -> Response:
    html = await render_template(
        "account.html",
        user=user,
        csrf_token=security.csrf_token(),
        error=error,
        errors=errors or {},
        notice=notice,
    )
    return Response(html, status=status, content_type="text/html; charset=utf-8")


@bp.post("/account/password")
@tag(["pages"])
@document_request(PasswordChangeForm, source=DataSource.FORM)
@answers(
    redirect_to(
        "Changed: every other session and token of the account ends, this browser gets a new "
        "session, then /account (which says so).",
        "Set-Cookie",
    ),
    page(401, "The account page again: the current password is wrong (a failed login)."),
    page(
        403,
        "The account page again: the CSRF token was missing or wrong. Not signed in (the "
        "session expired or ended): the sign-in form, coming back to /account after.",
    ),
    page(
        422,
        "The account page again: a field is blank, too short or too long, or the new "
        "passwords differ.",
    ),
    page(429, "The account page again: too many failed logins; wait `Retry-After` seconds."),
    page(503, "The account page again: the server is busy hashing; wait `Retry-After`."),
)
async def change_password() -> Response:
    """Change the password from the account page.

    Needs the current password (checked as a login is, under the same limits) and the new one
    twice. Every other browser session and every API token of the account ends; this browser
    stays signed in with a new session (and CSRF token).
    """
    user = await security.session_user()
    if user is None:  # expired, ended elsewhere, or never signed in: nothing to change
        return await _login_form(status=403, error=SESSION_ENDED, next_=DEFAULT_NEXT)
    form = await request.form
    values = {
        name: form.get(name, "")
        for name in ("current_password", "new_password", "new_password_again")
    }
    try:
        security.check_csrf(form.get(security.CSRF_FIELD))
    except CsrfFailed:
        return await _account_page(user, status=403, error=FORM_EXPIRED)
    problems = invalid_fields(PasswordChange, values)
    if "new_password" not in problems and values["new_password"] != values["new_password_again"]:
        problems.setdefault("new_password_again", ["doesn't match the new password"])
    if problems:
        return await _account_page(user, status=422, error=CHECK_FIELDS, errors=problems)
    try:
        updated = await security.change_password(
            user, values["current_password"], values["new_password"]
        )
    except BadCredentials:
        errors = {"current_password": ["is wrong"]}
        return await _account_page(user, status=401, error=CHECK_FIELDS, errors=errors)
    except (LoginRateLimited, HashingBusy) as exc:
        response = await _account_page(user, status=exc.status, error=busy_message(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    await security.sign_in(updated)  # the old session ended with the others: a new one
    session["notice"] = "password-changed"
    return redirect(DEFAULT_NEXT, 303)  # type: ignore[return-value]


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


# Password reset: ask for a link by email, then choose a new password from the link.

SESSION_EXPIRED = "Your session expired. Please try again."


async def _reset_request_page(
    *, status: int = 200, error: str | None = None, email: str = "", minutes: int | None = None
) -> Response:
    html = await render_template(
        "reset_request.html",
        csrf_token=security.csrf_token(),
        error=error,
        email=email,
        sent=minutes is not None,
        minutes=minutes,
    )
    return Response(html, status=status, content_type="text/html; charset=utf-8")


async def _reset_confirm_page(
    *,
    status: int = 200,
    token: str = "",
    error: str | None = None,
    expired: bool = False,
    done: bool = False,
) -> Response:
    html = await render_template(
        "reset_confirm.html",
        csrf_token=security.csrf_token(),
        token=token,
        error=error,
        expired=expired,
        done=done,
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    # The link's URL holds the token: no Referer carries it on, not even to our own stylesheet.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/password-reset")
@tag(["pages"])
@without_database
@answers(page(200, "The form asking for the account's email (HTML), with a CSRF token."))
async def password_reset_page() -> Response:
    """The "forgot password" page.

    Asks for the account's email, to send it a reset link. Linked from the sign-in page.
    """
    return await _reset_request_page()


@bp.post("/password-reset")
@tag(["pages"])
@document_request(ResetRequestForm, source=DataSource.FORM)
@answers(
    page(200, "Accepted: the same page whether or not an account uses the email."),
    page(403, "The form again: the CSRF token was missing or stale (the session expired)."),
    page(422, "The form again: no email was entered."),
    page(429, "The form again: too many requests from this address or for this email."),
)
async def password_reset_submit() -> Response:
    """Ask for a reset link from the form.

    As `POST /api/users/password-reset` (same limits, same work): the answer is the same
    whether or not an account uses the email.
    """
    form = await request.form
    email = form.get("email", "").strip()[:320]
    try:
        security.check_csrf(form.get(security.CSRF_FIELD))
    except CsrfFailed:
        return await _reset_request_page(status=403, error=SESSION_EXPIRED, email=email)
    if not email:
        return await _reset_request_page(
            status=422, error="Enter the email address of your account."
        )
    try:
        ttl = await security.request_password_reset(email)
    except PasswordResetRateLimited as exc:
        response = await _reset_request_page(
            status=exc.status,
            error=f"Too many requests. Try again in {exc.retry_after} seconds.",
            email=email,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return await _reset_request_page(email=email, minutes=max(1, ttl // 60))


@bp.get(password_reset_service.CONFIRM_PAGE)
@tag(["pages"])
@document_querystring(ResetPageQuery)
@answers(
    page(200, "The new password form (HTML), the token in a hidden field, with a CSRF token."),
    page(422, "The link is unknown, was used already, or has expired: a link to ask again."),
)
async def password_reset_confirm_page() -> Response:
    """The page an emailed reset link opens.

    Shows the new password form while the link's token works. Sent with `Referrer-Policy:
    no-referrer`, as its URL holds the token.
    """
    token = request.args.get("token", "")
    live = 0 < len(token) <= TOKEN_MAX and await password_reset_service.is_live(db.session(), token)
    if not live:
        return await _reset_confirm_page(status=422, expired=True)
    return await _reset_confirm_page(token=token)


@bp.post(password_reset_service.CONFIRM_PAGE)
@tag(["pages"])
@document_request(ResetConfirmForm, source=DataSource.FORM)
@answers(
    page(200, "Done: the password is set; every session and token of the account ended."),
    page(403, "The form again: the CSRF token was missing or stale (the session expired)."),
    page(422, "The form again for a password too short or too long; or the link has expired."),
    page(503, "The form again: the server is busy hashing passwords; wait `Retry-After`."),
)
async def password_reset_confirm_submit() -> Response:
    """Set a new password from the reset page.

    As `POST /api/users/password-reset/confirm`: the token works once; the account is signed
    out everywhere, this browser included if it was signed in to it.
    """
    form = await request.form
    token, password = form.get("token", ""), form.get("password", "")
    try:
        security.check_csrf(form.get(security.CSRF_FIELD))
    except CsrfFailed:
        return await _reset_confirm_page(status=403, token=token[:TOKEN_MAX], error=SESSION_EXPIRED)
    if not 0 < len(token) <= TOKEN_MAX:
        return await _reset_confirm_page(status=422, expired=True)
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return await _reset_confirm_page(
            status=422,
            token=token,
            error=f"Choose a password of {PASSWORD_MIN} to {PASSWORD_MAX} characters.",
        )
    try:
        await security.reset_password(token, password)
    except ResetTokenInvalid:
        return await _reset_confirm_page(status=422, expired=True)
    except HashingBusy as exc:
        response = await _reset_confirm_page(
            status=exc.status,
            token=token,
            error=f"The service is busy. Try again in {exc.retry_after} seconds.",
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return await _reset_confirm_page(done=True)
