"""The console's HTTP handlers: login/logout, the read-only pages and the live JSON.

Every page but ``/login`` answers 401 without a valid session cookie. Responses carry
a strict Content-Security-Policy (inline style and script only, ``connect-src 'self'``),
``no-store`` and no referrer. The only POSTs are login and logout; both refuse a
cross-origin ``Origin`` header, and the session cookie is ``SameSite=Strict``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tailcfg.control.console import views
from tailcfg.control.console.sessions import COOKIE, LIFETIME, Session, Sessions, admin_for_key
from tailcfg.control.http import plane, read_body
from tailcfg.control.model import ControlRequestError, utcnow

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin (not no-referrer): browsers then send a real Origin on the login POST.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NAV = (("/", "Devices"), ("/keys", "Auth keys"), ("/policy", "Policy"), ("/graph", "Access graph"))
Page = Callable[[Request, Session], Awaitable[Response]]


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("tailcfg.control.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Console:
    """Handlers sharing one template environment and one session table."""

    def __init__(self) -> None:
        self.env = _env()
        self.sessions = Sessions()

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(nav=NAV, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE), now=utcnow())

    def page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return self.render("unauthorized.html", status=401, title="Log in required")
            return await handler(request, session)

        return run

    # login / logout ----------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        return self.render("login.html", title="Log in")

    async def login(self, request: Request) -> Response:
        if not _same_origin(request):
            return self.render("login.html", status=403, title="Log in", error="cross-site login")
        try:
            form = parse_qs((await read_body(request)).decode("utf-8", "replace"))
            user = admin_for_key(plane(request).store, (form.get("key") or [""])[0])
        except ControlRequestError:
            return self.render("login.html", status=401, title="Log in", error="invalid admin key")
        sid = self.sessions.create(user.login, now=utcnow())
        response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(
            COOKIE,
            sid,
            max_age=int(LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        if _same_origin(request):
            self.sessions.drop(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # pages ---------------------------------------------------------------------------
    async def devices(self, request: Request, session: Session) -> Response:
        state = views.devices_state(plane(request), utcnow())
        return self.render("devices.html", title="Devices", path="/", session=session, state=state)

    async def devices_json(self, request: Request) -> Response:
        if self.session(request) is None:
            return JSONResponse({"message": "log in required"}, 401, headers=SECURITY_HEADERS)
        state = views.devices_state(plane(request), utcnow())
        return JSONResponse(state, headers=SECURITY_HEADERS)

    async def keys(self, request: Request, session: Session) -> Response:
        rows = views.auth_keys(plane(request), utcnow())
        return self.render("keys.html", title="Auth keys", path="/keys", session=session, keys=rows)

    async def policy(self, request: Request, session: Session) -> Response:
        view = await run_in_threadpool(views.policy_view, plane(request))
        return self.render(
            "policy.html", title="Policy", path="/policy", session=session, view=view
        )

    async def graph(self, request: Request, session: Session) -> Response:
        parts = await run_in_threadpool(views.graph_view, plane(request))
        return self.render(
            "graph.html", title="Access graph", path="/graph", session=session, graph=parts
        )


def _same_origin(request: Request) -> bool:
    """A POST from the console's own pages (Sec-Fetch-Site, else Origin, must say so)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site form: those send Origin
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def console_routes() -> list[BaseRoute]:
    """The console's routes (mount them at ``/`` of the control app)."""
    c = Console()
    return [
        Route("/", c.page(c.devices), methods=["GET"]),
        Route("/keys", c.page(c.keys), methods=["GET"]),
        Route("/policy", c.page(c.policy), methods=["GET"]),
        Route("/graph", c.page(c.graph), methods=["GET"]),
        Route("/console/devices.json", c.devices_json, methods=["GET"]),
        Route("/login", c.login_form, methods=["GET"]),
        Route("/login", c.login, methods=["POST"]),
        Route("/logout", c.logout, methods=["POST"]),
    ]
