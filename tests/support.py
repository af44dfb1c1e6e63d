"""Helpers shared by the test modules: real server processes and "part missing" skips."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from devtools.server_process import PROJECT_ROOT, ServerProcess, start_server

__all__ = [
    "PROJECT_ROOT",
    "STRICT_ENV",
    "ServerProcess",
    "require_part",
    "run_together",
    "start_server",
    "strict",
]

T = TypeVar("T")

STRICT_ENV = "CREDITSCORER_REQUIRE_ALL_PARTS"


def strict() -> bool:
    """True in CI: a missing part (LibreOffice, PostgreSQL, Chromium) is a failure, not a skip."""
    return os.environ.get(STRICT_ENV) == "1"


# Every real part a test may need: its name and how to install it, worded once.
PARTS = {
    "postgresql": (
        "PostgreSQL",
        "apt-get install postgresql, create a database and set "
        "CREDITSCORER_TEST_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@127.0.0.1:5432/DB "
        "(.ci/run does both)",
    ),
    "libreoffice": (
        "LibreOffice",
        "apt-get install libreoffice-calc libreoffice-script-provider-python python3-uno curl",
    ),
    "postgresql-server": (
        "PostgreSQL's server programs (a throwaway cluster: initdb, pg_ctl)",
        "apt-get install postgresql",
    ),
    "chattr": (
        "the immutable flag (chattr +i) enforced on open files",
        "run as root on ext4, xfs or btrfs (apt-get install e2fsprogs)",
    ),
    "tmpfs": (
        "a small tmpfs to fill up (mount -t tmpfs)",
        "run as root with CAP_SYS_ADMIN (docker run --cap-add SYS_ADMIN)",
    ),
    "chromium": ("Chromium", "apt-get install chromium"),
    "node": ("Node.js", "apt-get install nodejs npm"),
    "nginx": ("nginx", "apt-get install nginx"),
    "openssl": ("openssl", "apt-get install openssl"),
    "curl": ("curl", "apt-get install curl"),
}


def part_reason(part: str, detail: str = "") -> str:
    """The one wording of a missing part: "needs NAME (DETAIL); install: COMMAND"."""
    if part not in PARTS:  # a free-form reason
        return part
    name, install = PARTS[part]
    return f"needs {name}{f' ({detail})' if detail else ''}; install: {install}"


def require_part(available: bool, part: str, detail: str = "") -> None:
    """Skip when a real part is missing; fail instead when CI demands every part.

    ``part`` is a key of PARTS; the skip is reported at the test, not at this helper.
    """
    if available:
        return
    reason = part_reason(part, detail)
    if strict():
        pytest.fail(f"{reason} ({STRICT_ENV}=1: missing parts fail in CI)", pytrace=False)
    raise pytest.skip.Exception(reason, _use_item_location=True)


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


def write_synthetic_credit_csv(path, rows: int = 600, seed: int = 7) -> None:
    """A labelled CSV whose feature names no code of CreditScorer knows: two numbers, two
    categories (one with labels that differ from its codes only in case) and a yes/no target."""
    import csv

    import numpy as np

    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 31, rows)
    utilisation = np.round(rng.uniform(0, 1.5, rows), 3)
    region = rng.choice(["north", "south", "east", "west"], rows)
    tier = rng.choice(["Gold", "Silver", "Bronze"], rows, p=[0.2, 0.5, 0.3])
    logit = -1.2 - 0.06 * tenure + 2.0 * utilisation + (region == "east") * 0.8
    logit += (tier == "Bronze") * 0.7 - (tier == "Gold") * 0.6
    bad = rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Tenure Years", "utilisation", "region", "product_tier", "went_bad"])
        for i in range(rows):
            writer.writerow(
                [int(tenure[i]), utilisation[i], region[i], tier[i], "yes" if bad[i] else "no"]
            )


class Reply:
    """A test-client reply read the way a ``requests`` reply is (``.json()``, ``.text``)."""

    def __init__(self, response) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = response.get_data()
        self.text = response.get_data(as_text=True)

    def json(self):
        import json

        return json.loads(self.content)


class AppClient:
    """The app in this process through Flask's test client, called like a ServerProcess:
    ``get(path, params=..., headers=...)``, ``post(path, json=... | data=... | files=...)``.

    For tests where the socket is not the point; real-HTTP tests use ``live_server``.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()

    def request(self, method: str, path: str, **kwargs) -> Reply:
        import io

        kwargs.pop("timeout", None)
        options: dict = {"headers": kwargs.pop("headers", None)}
        if "params" in kwargs:
            params = kwargs.pop("params")
            options["query_string"] = {k: v for k, v in params.items() if v is not None}
        if "json" in kwargs:
            options["json"] = kwargs.pop("json")
        if "files" in kwargs:
            form = {}
            for field, (filename, content, *ctype) in kwargs.pop("files").items():
                form[field] = (io.BytesIO(content), filename, *ctype)
            options["data"] = {**kwargs.pop("data", {}), **form}
        elif "data" in kwargs:
            options["data"] = kwargs.pop("data")
        if kwargs:
            raise TypeError(f"AppClient does not take {sorted(kwargs)}")
        return Reply(self.client.open(path, method=method, **options))

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Reply:
        return self.request("POST", path, **kwargs)


def run_together(action: Callable[[T], object], subjects: Sequence[T]) -> list[BaseException]:
    """Run ``action(subject)`` for every subject in its own thread, all released at once by a
    barrier (workers starting together); return what they raised, in no order."""
    barrier = threading.Barrier(len(subjects))
    failures: list[BaseException] = []

    def start(subject: T) -> None:
        barrier.wait(timeout=30)
        try:
            action(subject)
        except BaseException as error:  # every failure is the finding
            failures.append(error)

    threads = [threading.Thread(target=start, args=(subject,)) for subject in subjects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures
