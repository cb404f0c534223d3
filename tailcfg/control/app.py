"""The ASGI application: node protocol + Tailscale v2 + Headscale v1 routes over one plane."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tailcfg.control import api_headscale, api_v2, keys, node_api
from tailcfg.control import policy as pol
from tailcfg.control.bootstrap import DB_FILE, is_initialised
from tailcfg.control.console import console_routes
from tailcfg.control.model import ControlRequestError
from tailcfg.control.service import ControlPlane, Settings, TestsFailed
from tailcfg.control.store import Store
from tailcfg.errors import ControlError
from tailcfg.policy.evaluate.run import run_tests as run_policy_tests


def _apply_policy_file(control: ControlPlane, policy_path: Path) -> None:
    try:
        text = policy_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ControlError(f"{policy_path}: cannot read policy: {why}") from None
    if text != control.policy.text:
        try:
            control.put_policy(text)
        except TestsFailed:
            raise ControlError(_refusal(control, policy_path, text)) from None
        except ControlRequestError as exc:
            raise ControlError(f"{policy_path}: policy refused: {exc}") from None


def _refusal(control: ControlPlane, policy_path: Path, text: str) -> str:
    """The failing tests, positioned, and what to do about unknown users."""
    logins = tuple(u.login for u in control.store.users())
    loaded = pol.load(text, str(policy_path), users=logins)
    report = run_policy_tests(loaded.policy)
    lines = [f"{policy_path}: policy refused: its tests fail on this control plane"]
    for result in report.failures:
        what = result.target if result.dst else result.src
        lines.append(f"{result.span.render()}: {result.entry_name} {what}: {result.reason}")
    lines.append(
        f"hint: the tailnet's users are {', '.join(logins) or 'none'}; a test naming another"
        " login fails here. Initialise the state with that admin (`tailcfg control init"
        " --admin-login LOGIN`) or let the user join first."
    )
    return "\n".join(lines)


def preflight(state_dir: str | Path, policy_path: str | Path | None) -> None:
    """Open the state and apply ``policy_path`` as startup would: ControlError before any
    server starts (a refused policy is a one-line-per-failure message, not a traceback)."""
    state = Path(state_dir)
    if not is_initialised(state):
        raise ControlError(f"{state}: not initialised; run `tailcfg control init --state {state}`")
    try:
        control_key = keys.load_control_key(state)
    except ControlRequestError as exc:
        raise ControlError(f"{state / keys.CONTROL_KEY_FILE}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ControlError(f"{state / keys.CONTROL_KEY_FILE}: cannot read: {why}") from None
    try:
        with Store(state / DB_FILE) as store:
            control = ControlPlane(store, control_key, Settings())
            if policy_path is not None:
                _apply_policy_file(control, Path(policy_path))
    except sqlite3.Error as exc:
        raise ControlError(f"{state / DB_FILE}: not a usable control database ({exc})") from None


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"message": "not found"}, status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"message": "method not allowed"}, status_code=405)


def create_app(
    state_dir: str | Path,
    *,
    settings: Settings | None = None,
    policy_path: str | Path | None = None,
) -> Starlette:
    """The server for ``state_dir`` (made by ``init_state``); state opens at startup."""
    state = Path(state_dir)
    if not is_initialised(state):
        raise ControlError(f"{state}: not initialised; run `tailcfg control init --state {state}`")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with Store(state / DB_FILE) as store:
            base = settings or Settings()
            domain = store.setting("domain") or base.domain
            control = ControlPlane(
                store, keys.load_control_key(state), dataclasses.replace(base, domain=domain)
            )
            if policy_path is not None:
                _apply_policy_file(control, Path(policy_path))
            app.state.control = control
            await control.start()
            try:
                yield
            finally:
                await control.stop()

    return Starlette(
        routes=[*node_api.ROUTES, *api_v2.ROUTES, *api_headscale.ROUTES, *console_routes()],
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_allowed},
    )
