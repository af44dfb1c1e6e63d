"""CreditScorer worksheet functions for Excel, through the xlwings add-in (Windows Excel).

The workbook's ``xlwings.conf`` sheet names this module (``UDF Modules`` = ``excel.udfs``);
"Import Functions" in the xlwings ribbon then makes these formulas available::

    =CREDIT_SCORE(duration, amount, age, [model])        probability of default, 0–1
    =CREDIT_DECISION(duration, amount, age, [model])     "approve" or "decline"
    =CREDIT_REASONS(duration, amount, age, [model], [header])   contributions as a row
    =CREDIT_SCORE_TABLE(table, [model], [header])        one request for a whole range
    =CREDIT_SCORE_RECORD(headers, values, [model])       any model: names and values
    =CREDIT_DECISION_RECORD(headers, values, [model])    approve/decline, any model
    =CREDIT_REASONS_RECORD(headers, values, [model], [header])  contributions, any model
    =CREDIT_FEATURES([model])                            the model's inputs from its card
    =CREDIT_MODELS()                                     the models on the server
    =CREDIT_CLEAR_CACHE([trigger])                       forget cached results

Settings come from the ``xlwings.conf`` sheet of the calling workbook
(``CREDITSCORER_API_URL``, ``CREDITSCORER_API_KEY``, ``CREDITSCORER_TIMEOUT``), else from
environment variables of the same names, else ``http://127.0.0.1:5000``. The address
``local`` scores on this computer with the model store in ``CREDITSCORER_MODEL_DIR``
(default ``instance/models``), without a server.

A failure is the cell's value, never a traceback: ``#SCORE!`` bad input, ``#MODEL!``
unknown or unavailable model, ``#AUTH!`` API key refused, ``#LIMIT!`` table too large,
``#SERVER!`` server unreachable or failing. Each wrapper below is one line of work;
the logic lives in ``excel.udf_service`` and ``excel.udf_backends``, which import neither
xlwings nor Flask and are tested without Excel.

On Linux and macOS ``xlwings`` imports, but its ``func``/``arg``/``ret`` decorators are
no-ops that record nothing (the real ones live in ``xlwings.udfs``, which needs pywin32).
The functions below are plain Python functions there, which is how the tests call them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import xlwings as xw

from excel.udf_backends import SERVER, UdfError
from excel.udf_service import (
    DEFAULT_MODEL,
    MODEL_KEY,
    ConfigCache,
    Settings,
    UdfService,
    applicant,
    credit_decision,
    credit_decision_record,
    credit_reasons,
    credit_reasons_record,
    credit_score,
    credit_score_record,
    credit_score_table,
    features_table,
    models_table,
    resolve_settings,
)

CATEGORY = "CreditScorer"
log = logging.getLogger("creditscorer.udfs")

# One service per Python process (the xlwings UDF server): its cache outlives single
# calls and is shared by every workbook; its keys carry the server, so that two
# workbooks pointing at different servers never see each other's scores.
service = UdfService()
workbook_config = ConfigCache()

_MODEL_DOC = f'model name, e.g. "forest" (default: {MODEL_KEY}, else "{DEFAULT_MODEL}")'


def _read_config_sheet(caller: Any) -> dict[Any, Any]:
    """The calling workbook's xlwings.conf sheet as a dict (empty without one)."""
    if caller is None:
        return {}
    try:
        book = caller.sheet.book
        book_key = book.fullname
    except Exception:  # a caller from VBA, or a closed book: no sheet settings
        log.debug("no workbook behind the caller", exc_info=True)
        return {}

    def read() -> dict[Any, Any]:
        from xlwings.utils import read_config_sheet  # returns {} when the sheet is missing

        return read_config_sheet(book) or {}

    return workbook_config.get(book_key, read)


def settings_for(caller: Any) -> Settings:
    """The settings a call from ``caller`` (an xlwings Range, or None) should use."""
    return resolve_settings(_read_config_sheet(caller))


def _cell(work: Callable[[Settings], Any], caller: Any) -> Any:
    """Run one worksheet function; every failure becomes the cell's text."""
    try:
        return work(settings_for(caller))
    except UdfError as error:
        return error.cell
    except Exception as error:  # a cell shows a message, never a traceback
        log.exception("unexpected error in a CreditScorer worksheet function")
        return UdfError(SERVER, f"unexpected error ({type(error).__name__}: {error})").cell


# The seed models' form (logistic, forest): the three features as arguments. This is the
# one place that knows feature names; every other function takes them from the sheet or
# from the model's card.
SEED_FEATURES = ("duration", "amount", "age")


_SEED_HINT = (
    " (this function takes the seed models' duration, amount and age; for this model use "
    "CREDIT_SCORE_RECORD(headers, values, model), CREDIT_FEATURES(model) lists its features)"
)


def _seed(duration: Any, amount: Any, age: Any) -> dict[str, Any]:
    return applicant(SEED_FEATURES, (duration, amount, age))


def _arguments(docs: dict[str, str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One decorator for xlwings' declarations of the arguments a form's functions share
    (xw.arg records each argument's options on the function by name, in any order)."""

    def declare(function: Callable[..., Any]) -> Callable[..., Any]:
        for name, doc in docs.items():
            function = xw.arg(name, err_to_str=True, doc=doc)(function)
        return function

    return declare


_seed_arguments = _arguments(
    {
        "duration": "credit duration in months (1–120)",
        "amount": "credit amount in DM (more than 0)",
        "age": "applicant's age in years (18–100)",
        "model": _MODEL_DOC,
    }
)


def _seed_cell(work: Callable[[Settings], Any], caller: Any) -> Any:
    """A seed-form cell; a model that needs other features gets told where to go."""
    value = _cell(work, caller)
    if isinstance(value, str) and value.startswith("#SCORE! "):
        parts = value.removeprefix("#SCORE! ").split("; ")
        missing = [p.split(": ")[0] for p in parts if p.endswith(": is required")]
        if any(name not in SEED_FEATURES for name in missing):  # not a blank argument
            return value + _SEED_HINT
    return value


@xw.func(category=CATEGORY, call_in_wizard=False)
@_seed_arguments
def CREDIT_SCORE(duration, amount, age, model=None, caller=None):
    """Probability of default (0–1) of one applicant, from CreditScorer."""
    return _seed_cell(
        lambda s: credit_score(service, s, _seed(duration, amount, age), model), caller
    )


@xw.func(category=CATEGORY, call_in_wizard=False)
@_seed_arguments
def CREDIT_DECISION(duration, amount, age, model=None, caller=None):
    """approve or decline: decline when the probability of default reaches the model's threshold."""
    return _seed_cell(
        lambda s: credit_decision(service, s, _seed(duration, amount, age), model), caller
    )


@xw.func(category=CATEGORY, call_in_wizard=False)
@_seed_arguments
@xw.arg("header", err_to_str=True, doc="TRUE adds a row of feature names (default FALSE)")
def CREDIT_REASONS(duration, amount, age, model=None, header=False, caller=None):
    """Each feature's contribution to the score, as a row: duration, amount, age."""
    return _seed_cell(
        lambda s: credit_reasons(service, s, _seed(duration, amount, age), model, header), caller
    )


@xw.func(category=CATEGORY, call_in_wizard=False)
@xw.arg("table", ndim=2, err_to_str=True, doc="the applicants: a range with a header row")
@xw.arg("model", err_to_str=True, doc=_MODEL_DOC)
@xw.arg("header", err_to_str=True, doc="FALSE: no header row, columns in the model's order")
def CREDIT_SCORE_TABLE(table, model=None, header=True, caller=None):
    """Scores a whole range in one request: probability, decision, error, warning per row."""
    return _cell(lambda s: credit_score_table(service, s, table, model, header), caller)


_record_arguments = _arguments(
    {
        "headers": "the feature names: one row or column (e.g. a CREDIT_FEATURES name column)",
        "values": "the values, in the same order: numbers, or a category's code or label",
        "model": _MODEL_DOC,
    }
)


@xw.func(category=CATEGORY, call_in_wizard=False)
@_record_arguments
def CREDIT_SCORE_RECORD(headers, values, model=None, caller=None):
    """Probability of default (0–1) of one applicant of any model, given names and values."""
    return _cell(lambda s: credit_score_record(service, s, headers, values, model), caller)


@xw.func(category=CATEGORY, call_in_wizard=False)
@_record_arguments
def CREDIT_DECISION_RECORD(headers, values, model=None, caller=None):
    """approve or decline, for one applicant of any model, given names and values."""
    return _cell(lambda s: credit_decision_record(service, s, headers, values, model), caller)


@xw.func(category=CATEGORY, call_in_wizard=False)
@_record_arguments
@xw.arg("header", err_to_str=True, doc="TRUE adds a row of column names (default FALSE)")
def CREDIT_REASONS_RECORD(headers, values, model=None, header=False, caller=None):
    """Each feature's contribution, largest first: two columns, feature and contribution."""
    return _cell(
        lambda s: credit_reasons_record(service, s, headers, values, model, header), caller
    )


@xw.func(category=CATEGORY, call_in_wizard=False)
@xw.arg("model", err_to_str=True, doc=_MODEL_DOC)
def CREDIT_FEATURES(model=None, caller=None):
    """The model's inputs from its card: name, label, type, unit, accepted range, labels."""
    return _cell(lambda s: features_table(service, s, model), caller)


@xw.func(category=CATEGORY, call_in_wizard=False)
def CREDIT_MODELS(caller=None):
    """The models on the server: name, version, algorithm, threshold, ROC AUC, trained at."""
    return _cell(lambda s: models_table(service, s), caller)


@xw.func(category=CATEGORY, call_in_wizard=False)
@xw.arg("trigger", doc="optional: any cell; changing it clears the cache again")
def CREDIT_CLEAR_CACHE(trigger=None, caller=None):
    """Forgets every cached score; recalculate (Ctrl+Alt+F9) afterwards to score afresh."""
    workbook_config.clear()
    count = service.clear()
    return f"cleared {count} cached results at {time.strftime('%H:%M:%S')}"
