"""The embedded control plane: registration, netmap streaming, Tailscale v2 / Headscale v1 APIs.

Modules, in import order: ``model`` (records, ``ControlRequestError``), ``keys`` (key text
forms, the NaCl Box seal), ``auth`` (auth and API key secrets), ``addresses``, ``store``
(SQLite; the only module with SQL), ``policy`` + ``compiler`` (the policy engine for the
devices), ``netmap`` (wire shapes), ``hub`` (live netmaps), ``service`` (``ControlPlane``),
``http``, ``node_api``, ``api_v2``, ``api_headscale``, ``app`` (the ASGI app), ``bootstrap``
(``control init``), ``server`` (``serve``, ``running_control``) and ``client`` (the node side:
``ControlClient``). The wire protocol is described in ``docs/control-protocol.md``.
"""
