"""What Tailscale's server rejects, in its wording and order, and ``policy lint``.

Takes: a parsed HuJSON policy document (and the tailnet's users, for domain checks).
Gives: positioned errors where the server rejects, warning[unverified] where unknown, hints.
"""

from tailcfg.policy.validate.lint import LintResult, lint_file, lint_text
from tailcfg.policy.validate.validator import check, validate

__all__ = ["LintResult", "check", "lint_file", "lint_text", "validate"]
