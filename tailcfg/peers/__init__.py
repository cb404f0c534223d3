"""The real peers tailcfg is proven against: Headscale (and tailscaled), run as processes.

``binaries`` finds the pinned builds (``scripts/build-peers``); ``headscale`` runs a
``headscale serve`` on loopback ports for tests and ``verify --control headscale``.
"""
