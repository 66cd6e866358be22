"""Behaviour test suites (CheckList-style): templates and lexicons expanded into cases a head must get right
(``mft``), keep (``inv``) or move the stated way (``dir``); see :mod:`ftclf.behaviour.suite` for the format
and :func:`run_suite` to run one."""

from .runner import Failure, SuiteReport, TestResult, run_suite
from .suite import BehaviourTest, Case, Suite, built_in_suites, load_suite, parse_suite

__all__ = ["BehaviourTest", "Case", "Failure", "Suite", "SuiteReport", "TestResult", "built_in_suites", "load_suite",
           "parse_suite", "run_suite"]
