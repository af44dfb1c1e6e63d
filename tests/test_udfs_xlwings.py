"""What Excel will see of the UDFs: xlwings' decorator metadata and the generated VBA.

On Linux and macOS ``import xlwings`` works, but ``xw.func``/``xw.arg``/``xw.ret`` are
no-ops there: the real decorators live in ``xlwings/udfs.py``, which imports pywin32
(``pythoncom``, ``pywintypes``, ``win32com.client``) at the top and is used only on
Windows. Those decorators themselves are plain Python, and so is the function that
writes the VBA wrappers Excel calls ("Import Functions"). So the tests load that very
file with the three pywin32 modules stubbed, decorate ``excel/udfs.py`` with it, and
check the recorded conversions and the VBA signatures against the table below. A
changed signature, a dropped ``ndim=2`` or a new undeclared function fails here.

Not covered (needs Windows Excel): the COM server, xlwings' value conversion
(it needs the Excel engine) and Excel's own calculation and spilling.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import sys
import types
from pathlib import Path
from unittest import mock

import pytest
import xlwings

from excel import udfs

WINDOWS = sys.platform.startswith("win")
REQUIRED = object()  # marks an argument without a default
ERR = {"err_to_str": True}

# name -> [(argument, conversion options, default)], the VBA declaration line
EXPECTED = {
    "CREDIT_SCORE": (
        [
            ("duration", ERR, REQUIRED),
            ("amount", ERR, REQUIRED),
            ("age", ERR, REQUIRED),
            ("model", ERR, None),
            ("caller", {}, None),
        ],
        "Function CREDIT_SCORE(duration, amount, age, Optional model)",
    ),
    "CREDIT_DECISION": (
        [
            ("duration", ERR, REQUIRED),
            ("amount", ERR, REQUIRED),
            ("age", ERR, REQUIRED),
            ("model", ERR, None),
            ("caller", {}, None),
        ],
        "Function CREDIT_DECISION(duration, amount, age, Optional model)",
    ),
    "CREDIT_REASONS": (
        [
            ("duration", ERR, REQUIRED),
            ("amount", ERR, REQUIRED),
            ("age", ERR, REQUIRED),
            ("model", ERR, None),
            ("header", ERR, False),
            ("caller", {}, None),
        ],
        "Function CREDIT_REASONS(duration, amount, age, Optional model, Optional header)",
    ),
    "CREDIT_SCORE_TABLE": (
        [
            ("table", {"ndim": 2, "err_to_str": True}, REQUIRED),
            ("model", ERR, None),
            ("header", ERR, True),
            ("caller", {}, None),
        ],
        "Function CREDIT_SCORE_TABLE(table, Optional model, Optional header)",
    ),
    **{
        name: (
            [
                ("headers", ERR, REQUIRED),
                ("values", ERR, REQUIRED),
                ("model", ERR, None),
                ("caller", {}, None),
            ],
            f"Function {name}(headers, values, Optional model)",
        )
        for name in ("CREDIT_SCORE_RECORD", "CREDIT_DECISION_RECORD")
    },
    "CREDIT_REASONS_RECORD": (
        [
            ("headers", ERR, REQUIRED),
            ("values", ERR, REQUIRED),
            ("model", ERR, None),
            ("header", ERR, False),
            ("caller", {}, None),
        ],
        "Function CREDIT_REASONS_RECORD(headers, values, Optional model, Optional header)",
    ),
    "CREDIT_FEATURES": (
        [("model", ERR, None), ("caller", {}, None)],
        "Function CREDIT_FEATURES(Optional model)",
    ),
    "CREDIT_MODELS": ([("caller", {}, None)], "Function CREDIT_MODELS()"),
    "CREDIT_CLEAR_CACHE": (
        [("trigger", {}, None), ("caller", {}, None)],
        "Function CREDIT_CLEAR_CACHE(Optional trigger)",
    ),
}


def _stub_pywin32() -> dict[str, types.ModuleType]:
    pythoncom = types.ModuleType("pythoncom")
    pythoncom.CoInitialize = lambda: None
    pywintypes = types.ModuleType("pywintypes")
    pywintypes.com_error = type("com_error", (Exception,), {})
    win32com = types.ModuleType("win32com")
    client = types.ModuleType("win32com.client")
    client.Dispatch = lambda *args: None
    win32com.client = client
    return {
        "pythoncom": pythoncom,
        "pywintypes": pywintypes,
        "win32com": win32com,
        "win32com.client": client,
    }


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def windows_udfs() -> types.ModuleType:
    """xlwings' Windows UDF machinery (decorators, VBA writer), pywin32 stubbed on import."""
    if WINDOWS:
        return importlib.import_module("xlwings.udfs")
    stubs = _stub_pywin32()
    assert not set(stubs) & set(sys.modules), "pywin32 is installed here after all"
    sys.modules.update(stubs)
    try:
        return _load("xlwings._udfs_for_tests", Path(xlwings.__file__).parent / "udfs.py")
    finally:
        for name in stubs:
            sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def declared(windows_udfs) -> types.ModuleType:
    """excel/udfs.py as Windows imports it: decorated by xlwings' real decorators."""
    with (
        mock.patch.object(xlwings, "func", windows_udfs.xlfunc),
        mock.patch.object(xlwings, "arg", windows_udfs.xlarg),
        mock.patch.object(xlwings, "ret", windows_udfs.xlret),
    ):
        return _load("excel._udfs_as_on_windows", Path(udfs.__file__))


class Workbook:
    """The one attribute of a COM workbook that the VBA writer reads."""

    Name = "CreditScorer.xlsm"


@pytest.fixture(scope="module")
def vba(windows_udfs, declared) -> str:
    out = io.StringIO()
    windows_udfs.generate_vba_wrapper("excel.udfs", declared, out, Workbook())
    return out.getvalue()


def test_xlwings_imports_here_and_says_whether_its_decorators_record_anything():
    assert all(callable(d) for d in (xlwings.func, xlwings.arg, xlwings.ret))
    # Off Windows the decorators return the function untouched: nothing to inspect there.
    assert hasattr(udfs.CREDIT_SCORE, "__xlfunc__") is WINDOWS


def test_the_module_declares_exactly_the_documented_functions(declared):
    exported = {name for name, value in vars(declared).items() if hasattr(value, "__xlfunc__")}
    assert exported == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_argument_conversions_and_defaults(declared, name):
    arguments, _ = EXPECTED[name]
    info = getattr(declared, name).__xlfunc__
    recorded = [(a["name"], a["options"], a.get("optional", REQUIRED)) for a in info["args"]]
    assert recorded == arguments
    for argument in info["args"]:
        if argument["name"] != "caller":  # caller is supplied by xlwings, never typed
            assert not argument["doc"].startswith("Positional argument"), argument["name"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_return_conversion_and_function_settings(declared, name):
    function = getattr(declared, name)
    info = function.__xlfunc__
    # No expand="table": Excel 365's native dynamic arrays spill a returned list of lists.
    assert info["ret"]["options"] == {}
    assert info["ret"]["doc"] == inspect.getdoc(function)
    assert info["category"] == "CreditScorer"
    assert info["volatile"] is False  # recalculation is driven by inputs; the cache does the rest
    assert info["call_in_wizard"] is False  # no requests while typing in the function wizard
    assert info["async_mode"] is None
    assert info["sub"] is False


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_vba_wrapper_excel_calls(vba, name):
    arguments, declaration = EXPECTED[name]
    assert declaration in vba.splitlines()
    passed = ", ".join("Nothing" if a == "caller" else a for a, _, _ in arguments)
    assert (
        f'{name} = XLPy.CallUDF("excel.udfs", "{name}", Array({passed}), ThisWorkbook, '
        "Application.Caller)"
    ) in vba


def test_no_wrapper_is_volatile_and_none_runs_in_the_wizard(vba):
    assert "Application.Volatile" not in vba
    wizard_guard = (
        'If (Not Application.CommandBars("Standard").Controls(1).Enabled) Then Exit Function'
    )
    assert vba.count(wizard_guard) == len(EXPECTED)


def test_the_python_signatures_are_the_declared_ones():
    for name, (arguments, _) in EXPECTED.items():
        parameters = inspect.signature(getattr(udfs, name)).parameters.values()
        got = [
            (p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for p in parameters
        ]
        assert got == [(a, default) for a, _, default in arguments], name
