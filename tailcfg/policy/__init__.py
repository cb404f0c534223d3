"""The policy engine, in rooms that follow the data (imports flow one way, top to bottom).

- :mod:`~tailcfg.policy.model`: HuJSON document and devices file -> typed Policy, Nodes.
- :mod:`~tailcfg.policy.validate`: document -> the server's rejections, warnings, lint.
- :mod:`~tailcfg.policy.compile`: Policy + devices -> packet filters, SSH policies, peers.
- :mod:`~tailcfg.policy.evaluate`: compiled devices -> test verdicts, explanations, reports.
- :mod:`~tailcfg.policy.diff`, :mod:`~tailcfg.policy.graph`,
  :mod:`~tailcfg.policy.coverage`: what the stages above give, compared, drawn, measured.

``tests/test_policy_layers.py`` holds the flow to this order; ``docs/engine.md`` maps it.
"""
