"""The ASGI application: node protocol + Tailscale v2 + Headscale v1 routes over one plane."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tailcfg.control import api_headscale, api_v2, keys, node_api
from tailcfg.control.bootstrap import DB_FILE, is_initialised
from tailcfg.control.console import console_routes
from tailcfg.control.model import ControlRequestError
from tailcfg.control.service import ControlPlane, Settings
from tailcfg.control.store import Store
from tailcfg.errors import ControlError


def _apply_policy_file(control: ControlPlane, policy_path: Path) -> None:
    try:
        text = policy_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ControlError(f"{policy_path}: cannot read policy: {exc.strerror}") from None
    if text != control.policy.text:
        try:
            control.put_policy(text)
        except ControlRequestError as exc:
            raise ControlError(f"{policy_path}: policy refused: {exc}") from None


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
