"""A policy's ``tests`` and ``sshTests`` run offline, and ``policy explain``.

Takes a loaded policy (and optionally the devices), compiled on real or stand-in devices;
gives verdicts read from each destination's compiled filter (:class:`TestReport`), the
rules behind them (provenance), explanations and the text/JSON/JUnit renderings.
"""

from tailcfg.policy.evaluate.explain import Explanation, explain_file
from tailcfg.policy.evaluate.run import TestReport, TestResult, run_tests, run_tests_file

__all__ = [
    "Explanation",
    "TestReport",
    "TestResult",
    "explain_file",
    "run_tests",
    "run_tests_file",
]
