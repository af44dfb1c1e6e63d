"""The add-in's task pane in headless Chromium against a real server with keys on, and
Microsoft's office-addin-mock standing in for Excel: a wrong key's message, a table in,
the API's scores written beside it, the bad row's error shown."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import requests
from support import PROJECT_ROOT, require_part
from test_addin import run_node

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_the_task_pane_scores_a_table_into_the_mocked_workbook(server_factory, tmp_path):
    require_part(os.path.exists(CHROMIUM), "chromium is not installed (apt-get install chromium)")
    database = f"sqlite:///{tmp_path / 'pane.sqlite3'}"
    env = {**os.environ, "CREDITSCORER_DATABASE_URL": database}
    key = subprocess.run(
        [sys.executable, "-m", "server", "keys", "add", "--name", "pane"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    server = server_factory(env={"CREDITSCORER_DATABASE_URL": database})
    shot = tmp_path / "taskpane.png"
    result = run_node(
        ["test/taskpane.browser.js"],
        env={
            "CREDITSCORER_URL": server.url,
            "CREDITSCORER_KEY": key,
            "CREDITSCORER_SCREENSHOT": str(shot),
            "CHROMIUM": CHROMIUM,
        },
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["wrongKey"] == "the API key is not valid (unknown, malformed or revoked)"
    assert "logistic" in seen["models"]
    expected = requests.post(
        server.url + "/v1/predict/batch",
        json={"columns": ["duration", "amount", "age"], "rows": [[12, 1500, 30], [48, 12000, 61]]},
        headers={"X-API-Key": key},
        timeout=30,
    ).json()["rows"]
    written = seen["written"]
    assert [written[f"0,{j}"] for j in range(4, 8)] == [
        "probability_default",
        "decision",
        "error",
        "warning",
    ]
    assert written["1,4"] == expected[0][0]
    assert written["1,5"] == expected[0][1]
    assert written["3,4"] == expected[1][0]
    assert written["2,4"] == ""
    assert written["2,6"].startswith("age: must be between 18 and 100")
    assert seen["status"] == "Scored 3 row(s) with logistic; 1 row(s) have an error."
    assert seen["progress"] == [3, 3]
    assert json.loads(seen["stored"])["key"] == key  # the add-in's storage, not the workbook
    assert seen["cardHeadings"][:2] == ["Metrics", "Features"]
    assert seen["outside"] == []  # nothing but the server (office.js is answered locally)
    assert seen["cspErrors"] == []
    assert shot.stat().st_size > 5000
