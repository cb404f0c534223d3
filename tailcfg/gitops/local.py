"""The local policy file before a push: lint, test, canonical text and predicted ETag.

The ETag is predicted offline as gitops-pusher does: sha256 of the canonical HuJSON
formatting (``tailcfg.hujson.format_text``, tailscale/hujson's Format). Push sends that
canonical text, so the server stores exactly what the prediction hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tailcfg import hujson
from tailcfg.errors import PolicyError, TailcfgError
from tailcfg.gitops.client import sha256_hex
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.evaluate.report import render_text
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.validate.lint import lint_text


class LocalTestsFailed(TailcfgError):
    """The policy's own tests fail locally: nothing is pushed."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True, slots=True)
class LocalPolicy:
    path: Path
    text: str  # as on disk
    canonical: str  # format_text(text): what push sends

    @property
    def etag(self) -> str:
        """The predicted ETag: sha256 hex of the canonical formatting."""
        return sha256_hex(self.canonical)


def predict_etag(text: str, path: str = "<input>") -> str:
    """sha256 hex of the canonical HuJSON formatting (HujsonError when not HuJSON)."""
    return sha256_hex(hujson.format_text(text, path))


def read_policy(path: Path) -> LocalPolicy:
    """Read and format the file (TailcfgError when unreadable, HujsonError when not HuJSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TailcfgError(f"{path}: cannot read policy: {reason}") from None
    return LocalPolicy(path, text, hujson.format_text(text, str(path)))


def check_policy_file(path: Path, *, nodes: Sequence[Node] | None = None) -> LocalPolicy:
    """Lint (errors only) and run the tests; raise PolicyError / LocalTestsFailed."""
    local = read_policy(path)
    result = lint_text(local.text, str(path))
    if result.errors:
        raise PolicyError(result.errors)
    policy = load_policy(local.text, str(path))
    report = run_tests(policy, nodes)
    if not report.passed:
        raise LocalTestsFailed(
            f"{path}: the policy's tests fail locally; nothing was pushed\n" + render_text(report)
        )
    return local
