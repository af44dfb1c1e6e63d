"""Helpers shared by the test modules: real server processes and "part missing" skips."""

from __future__ import annotations

import os

import pytest

from server.process import PROJECT_ROOT, ServerProcess, start_server

__all__ = ["PROJECT_ROOT", "STRICT_ENV", "ServerProcess", "require_part", "start_server", "strict"]

STRICT_ENV = "CREDITSCORER_REQUIRE_ALL_PARTS"


def strict() -> bool:
    """True in CI: a missing part (LibreOffice, PostgreSQL, Chromium) is a failure, not a skip."""
    return os.environ.get(STRICT_ENV) == "1"


def require_part(available: bool, reason: str) -> None:
    """Skip with ``reason`` when a real part is missing; fail instead when CI demands every part."""
    if available:
        return
    if strict():
        pytest.fail(f"{reason} ({STRICT_ENV}=1: missing parts fail in CI)", pytrace=False)
    pytest.skip(reason)


# One applicant of the full-attribute German Credit models (logistic_full, forest_full),
# with some categories by code and some by label, as a client may send them.
FULL_APPLICANT = {
    "checking_status": "A11",
    "duration": 24,
    "credit_history": "existing credits paid back duly till now",
    "purpose": "A43",
    "amount": 4000,
    "savings": "< 100 DM",
    "employment_since": "A73",
    "installment_rate": 3,
    "other_debtors": "none",
    "residence_since": 2,
    "property": "A123",
    "age": 35,
    "other_installment_plans": "A143",
    "housing": "own",
    "existing_credits": 1,
    "job": "A173",
    "people_liable": 1,
    "telephone": "A191",
}
