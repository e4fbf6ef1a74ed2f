"""GET/POST /signin and POST /signout: the sign-in form (CSRF by a signed cookie, failures counted per name
and address, each attempt audited) and the end of a session."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from scanbridge.console.context import NO_STORE, Console
from scanbridge.console.sessions import SESSION_COOKIE, SIGNIN_COOKIE, SIGNIN_TTL_S


def _next(value: object) -> str:
    """Only a path of this console (never another site) to go to after signing in."""
    text = value if isinstance(value, str) else "/"
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or not text.startswith("/") or text.startswith("//"):
        return "/"
    return text


def routes(console: Console) -> list[Route]:
    def form(request: Request, error: str | None = None, status: int = 200, name: str = "") -> Response:
        cookie, token = console.sessions.signin_token()
        response = console.templates.TemplateResponse(
            request, "signin.html", {"token": token, "error": error, "name": name,
                                     "next": _next(request.query_params.get("next", "/"))},
            status_code=status, headers=NO_STORE)
        response.set_cookie(SIGNIN_COOKIE, cookie, max_age=int(SIGNIN_TTL_S), httponly=True,
                            samesite="strict", secure=console.sessions.secure, path="/signin")
        return response

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            return form(request)
        data = await request.form()
        name = str(data.get("name", ""))[:64]
        address = f"addr:{request.client.host if request.client else '-'}"
        if not console.sessions.signin_ok(request.cookies.get(SIGNIN_COOKIE), str(data.get("csrf", ""))):
            await console.audit(name or "-", "sign_in.refused", "-", {"reason": "csrf"})
            return form(request, "The form expired or its CSRF token is wrong: sign in again.", 403, name)
        wait = console.limiter.blocked_for(f"name:{name}", address)
        if wait > 0:
            await console.audit(name or "-", "sign_in.refused", "-", {"reason": "rate limited"})
            return form(request, f"Too many failed sign-ins: try again in {int(wait // 60) + 1} minute(s).",
                        429, name)
        operator = await console.accounts.check(name, str(data.get("password", "")))
        if operator is None:
            console.limiter.failed(f"name:{name}", address)
            await console.audit(name or "-", "sign_in.failed", "-")
            return form(request, "Wrong name or password.", 401, name)
        console.limiter.succeeded(f"name:{name}")
        cookie, _ = console.sessions.issue(operator.name)
        await console.audit(operator.name, "sign_in", "-", {"role": operator.role})
        response = RedirectResponse(_next(data.get("next")), 303)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(console.sessions.ttl_s), httponly=True,
                            samesite="lax", secure=console.sessions.secure)
        response.delete_cookie(SIGNIN_COOKIE, path="/signin")
        return response

    async def signout(request: Request) -> Response:
        operator, _ = await console.form(request, admin=False)
        await console.audit(operator.name, "sign_out")
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    return [Route("/signin", signin, methods=["GET", "POST"]), Route("/signout", signout, methods=["POST"])]
