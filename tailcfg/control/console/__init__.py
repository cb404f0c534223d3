"""The read-only web console of the embedded control plane.

``console_routes()`` returns the routes the control app mounts at ``/``: devices (live),
auth keys (never their secrets), the policy with its test results, and the access graph
of the registered devices. Log in with the admin API key; the session is a random id in
an HttpOnly, SameSite=Strict cookie, held server-side. Templates are package data under
``templates/``; pages fetch nothing from outside the server.
"""

from __future__ import annotations

from tailcfg.control.console.routes import console_routes

__all__ = ["console_routes"]
