"""The benchmark runs end to end in its tiny mode and prints every section with figures.

``bench/bench_api.py --smoke`` starts the real servers (granian, the previous default
waitress, granian and gunicorn with 2 workers, the naive baseline) on 127.0.0.1, sends a
few requests of every kind and stops them all.
The figures themselves are not asserted: on a shared CI machine they mean little.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from support import PROJECT_ROOT

NUMBER = r"\d[\d,]*(?:\.\d+)?"

# Each section header, and one row of it that must carry figures.
SECTIONS = {
    "== Machine ==": r"nproc \d+",
    "== In-process floor": rf"forest predict 1,000 row\(s\)\s+{NUMBER}\s+{NUMBER}",
    "== Start-up": rf"ours, python -m server \(granian\)\s+{NUMBER}",
    "== Single-score latency": rf"forest no reasons\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}",
    "== Throughput at concurrency 8": (
        rf"logistic no reasons\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}"
    ),
    "== Batch latency": rf"forest 1,000\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}",
    "== Full-attribute models": rf"logistic_full\s+{NUMBER}\s+{NUMBER}",
    "== Memory": rf"ours, gunicorn -w 2 \(sync\) worker 2\s+{NUMBER}\s+{NUMBER}",
    "== Targets": r"start-up ≤ 1 s, python -m server\s+\S+ s\s+(met|NOT MET)",
}


def _section(text: str, header: str) -> str:
    start = text.index(header)
    end = text.find("\n== ", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.slow
def test_bench_smoke_prints_every_section_with_figures(model_dir):
    script = PROJECT_ROOT / "bench" / "bench_api.py"
    done = subprocess.run(
        [sys.executable, str(script), "--smoke", "--model-dir", str(model_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    out = done.stdout
    for header, row in SECTIONS.items():
        assert header in out, f"missing section {header!r}:\n{out}"
        assert re.search(row, _section(out, header)), f"no figures in {header!r}:\n{out}"
    verdicts = re.findall(r"  (met|NOT MET)$", _section(out, "== Targets"), flags=re.MULTILINE)
    # Every target of the speed work, the full-attribute models' own rows included.
    assert len(verdicts) == 21, _section(out, "== Targets")
    for line in _section(out, "== Targets").splitlines():
        if "not measured" in line:  # the tiny mode sends no 100,000-row batches
            assert line.startswith("100,000-row batch"), line
