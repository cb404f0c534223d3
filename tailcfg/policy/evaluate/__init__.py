"""A policy's ``tests`` and ``sshTests``, run offline, and ``policy explain``.

Takes: a loaded policy and, optionally, the devices (stand-ins for what is not known).
Gives: verdicts read from compiled filters (TestReport), the rules behind them, reports.
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
