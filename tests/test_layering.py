"""The house's layering: core <- training, core <- server, core <- excel; and every layer
follows the card, so no feature name is written into the core or the server."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from setuptools import find_namespace_packages, find_packages

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("creditscorer", "training", "server", "excel")
# Development tools (real server processes, headless LibreOffice, the sheet renderer): the
# tests, benchmarks and docs use them; no shipped package may, and they are not installed.
DEV_TOOLS = "devtools"
# What each package may import from the others.
ALLOWED = {
    "creditscorer": set(),
    "training": {"creditscorer"},
    "server": {"creditscorer"},
    "excel": {"creditscorer"},
}
# German Credit's column names ("property" and "job" are left out: Python's decorator and
# the retrain job are other words that happen to share them).
GERMAN_CREDIT_NAMES = {
    *("duration", "amount", "age", "checking_status", "credit_history", "purpose"),
    *("savings", "employment_since", "installment_rate", "personal_status_sex"),
    *("other_debtors", "residence_since", "other_installment_plans", "housing"),
    *("existing_credits", "people_liable", "telephone", "foreign_worker"),
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & {*PACKAGES, DEV_TOOLS}


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package):
    offenders = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = imported_packages(path) - ALLOWED[package] - {package}
        if wrong:
            offenders[str(path.relative_to(ROOT))] = sorted(wrong)
    assert not offenders, f"{package} may import only {sorted(ALLOWED[package])}: {offenders}"


def test_the_layering_check_sees_a_wrong_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text(
        "from training.train import train_all\nimport server.api\n"
        "from devtools.lo_driver import LibreOffice\n"
    )
    assert imported_packages(module) == {"training", "server", DEV_TOOLS}


def installed_packages(root: Path = ROOT) -> list[str]:
    """The packages a wheel of ``root`` holds: setuptools' own discovery, configured by
    pyproject.toml's ``[tool.setuptools.packages.find]`` as the build configures it."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    find = config["tool"]["setuptools"]["packages"]["find"]
    discover = find_namespace_packages if find.get("namespaces", True) else find_packages
    return discover(str(root), include=find.get("include", ["*"]), exclude=find.get("exclude", []))


def test_the_dev_tools_are_not_installed():
    packages = installed_packages()
    assert set(PACKAGES) <= set(packages), packages
    assert not [name for name in packages if name.split(".")[0] == DEV_TOOLS], packages
    assert (ROOT / DEV_TOOLS / "lo_driver.py").is_file()  # the folder is there, only left out


def test_the_install_check_sees_a_dev_tool_that_would_ship(tmp_path):
    for name in ("server", DEV_TOOLS):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools.packages.find]\ninclude = ["server*", "devtools*"]\n'
    )
    assert sorted(installed_packages(tmp_path)) == [DEV_TOOLS, "server"]


@pytest.mark.parametrize("package", ["creditscorer", "server"])
def test_no_feature_name_is_written_into_the_core_or_the_server(package):
    """Code and strings only (docstrings and comments may explain with an example)."""
    offenders = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        words = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in docstrings:
                    words.update(re.findall(r"[a-z_]+", node.value))
            elif isinstance(node, ast.Name):
                words.add(node.id)
            elif isinstance(node, ast.Attribute):
                words.add(node.attr)
            elif isinstance(node, ast.arg):
                words.add(node.arg)
        found = sorted(words & GERMAN_CREDIT_NAMES)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, f"feature names in {package}: {offenders}"
