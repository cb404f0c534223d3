"""Auth keys: mint through a control server's API, seal with sops, report, rotate, revoke.

Modules: ``credentials`` (API secrets from the CLI edge; the class lives in
``tailcfg.apiclient``, whose ApiClient the backends use), ``backends`` (Tailscale v2,
Headscale v1, the embedded control plane), ``tagcheck`` (offline tagOwners check),
``sealed`` (the sealed secrets file), ``mint``, ``status``, ``rotate`` (and revoke).
"""
