"""The German Credit data set's schema: the seed's three numbers and the full attribute set.

Codes and labels follow UCI's documentation of the Statlog (German Credit) data
(``training/data/README.md``). Two attributes are never model inputs, because credit law
forbids deciding on them: ``personal_status_sex`` (sex and marital status) and
``foreign_worker`` (nationality). They stay in the data only to measure the models'
fairness by sex and by foreign-worker status.
"""

from __future__ import annotations

from typing import Any

AGE_REASON = (
    "age is a protected attribute in many jurisdictions; it is an input because the seed "
    "models score on it, and the card's fairness table reports approval rates by age band. "
    "Check the legal basis before deciding on it."
)


def _cat(name: str, label: str, description: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "category",
        "label": label,
        "unit": "",
        "description": description,
        "categories": [{"code": code, "label": text} for code, text in pairs],
    }


def _num(
    name: str, label: str, kind: str, unit: str, description: str, accepted: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "label": label,
        "unit": unit,
        "description": description,
        "accepted": accepted,
    }


DURATION = _num(
    "duration", "Duration", "integer", "months", "Duration of the credit", {"min": 1, "max": 120}
)
AMOUNT = _num(
    "amount",
    "Amount",
    "number",
    "DM",
    "Credit amount",
    {"min": 0, "min_exclusive": True, "max": 1_000_000},
)
AGE = {
    **_num("age", "Age", "integer", "years", "Age of the applicant", {"min": 18, "max": 100}),
    "protected": True,
    "protected_reason": AGE_REASON,
}

SEED_FEATURES: list[dict[str, Any]] = [DURATION, AMOUNT, AGE]

FULL_FEATURES: list[dict[str, Any]] = [
    _cat(
        "checking_status",
        "Checking account",
        "Status of the existing checking account",
        [
            ("A11", "< 0 DM"),
            ("A12", "0 to < 200 DM"),
            ("A13", ">= 200 DM or salary for at least 1 year"),
            ("A14", "no checking account"),
        ],
    ),
    DURATION,
    _cat(
        "credit_history",
        "Credit history",
        "Credits taken and paid back so far",
        [
            ("A30", "no credits taken or all paid back duly"),
            ("A31", "all credits at this bank paid back duly"),
            ("A32", "existing credits paid back duly till now"),
            ("A33", "delay in paying off in the past"),
            ("A34", "critical account or credits at other banks"),
        ],
    ),
    _cat(
        "purpose",
        "Purpose",
        "Purpose of the credit",
        [
            ("A40", "car (new)"),
            ("A41", "car (used)"),
            ("A42", "furniture or equipment"),
            ("A43", "radio or television"),
            ("A44", "domestic appliances"),
            ("A45", "repairs"),
            ("A46", "education"),
            ("A47", "vacation"),
            ("A48", "retraining"),
            ("A49", "business"),
            ("A410", "others"),
        ],
    ),
    AMOUNT,
    _cat(
        "savings",
        "Savings",
        "Savings account or bonds",
        [
            ("A61", "< 100 DM"),
            ("A62", "100 to < 500 DM"),
            ("A63", "500 to < 1000 DM"),
            ("A64", ">= 1000 DM"),
            ("A65", "unknown or no savings account"),
        ],
    ),
    _cat(
        "employment_since",
        "Employed since",
        "Present employment since",
        [
            ("A71", "unemployed"),
            ("A72", "< 1 year"),
            ("A73", "1 to < 4 years"),
            ("A74", "4 to < 7 years"),
            ("A75", ">= 7 years"),
        ],
    ),
    _num(
        "installment_rate",
        "Instalment rate",
        "integer",
        "% of disposable income",
        "Instalment rate as a percentage of disposable income (1 lowest to 4 highest)",
        {"min": 1, "max": 4},
    ),
    _cat(
        "other_debtors",
        "Other debtors",
        "Other debtors or guarantors",
        [("A101", "none"), ("A102", "co-applicant"), ("A103", "guarantor")],
    ),
    _num(
        "residence_since",
        "Residence since",
        "integer",
        "band 1-4",
        "Present residence since (1 shortest to 4 longest)",
        {"min": 1, "max": 4},
    ),
    _cat(
        "property",
        "Property",
        "Most valuable property",
        [
            ("A121", "real estate"),
            ("A122", "building society savings or life insurance"),
            ("A123", "car or other"),
            ("A124", "unknown or no property"),
        ],
    ),
    AGE,
    _cat(
        "other_installment_plans",
        "Other instalment plans",
        "Other instalment plans",
        [("A141", "bank"), ("A142", "stores"), ("A143", "none")],
    ),
    _cat(
        "housing",
        "Housing",
        "Housing",
        [("A151", "rent"), ("A152", "own"), ("A153", "for free")],
    ),
    _num(
        "existing_credits",
        "Existing credits",
        "integer",
        "credits",
        "Number of existing credits at this bank",
        {"min": 0, "max": 20},
    ),
    _cat(
        "job",
        "Job",
        "Job",
        [
            ("A171", "unemployed or unskilled, non-resident"),
            ("A172", "unskilled, resident"),
            ("A173", "skilled employee or official"),
            ("A174", "management, self-employed or highly qualified"),
        ],
    ),
    _num(
        "people_liable",
        "People liable",
        "integer",
        "people",
        "Number of people the applicant provides maintenance for",
        {"min": 0, "max": 20},
    ),
    _cat(
        "telephone",
        "Telephone",
        "Telephone registered under the applicant's name",
        [("A191", "none"), ("A192", "yes")],
    ),
]

EXCLUDED_COLUMNS: list[dict[str, str]] = [
    {
        "name": "personal_status_sex",
        "reason": (
            "sex and marital status: credit law (e.g. the EU's and Germany's equal treatment "
            "rules, the US ECOA) forbids deciding on them; kept only for the fairness table"
        ),
    },
    {
        "name": "foreign_worker",
        "reason": (
            "nationality: credit law forbids deciding on it; kept only for the fairness table"
        ),
    },
]

# Groups of the fairness table: a name, the data column it comes from, and how a raw
# value maps to its group (bands for numbers, a code map for categories).
FAIRNESS_GROUPS: list[dict[str, Any]] = [
    {"name": "age_band", "column": "age", "bands": [25, 35, 50]},
    {
        "name": "sex",
        "column": "personal_status_sex",
        "map": {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"},
    },
    {
        "name": "foreign_worker",
        "column": "foreign_worker",
        "map": {"A201": "foreign worker", "A202": "not a foreign worker"},
    },
]

SEED_LIMITATIONS = (
    "Three predictors (duration, amount, age) carry little of the credit risk in this data: "
    "cross-validated ROC AUC is about 0.6, far below the full-attribute models "
    "(logistic_full, forest_full) that use the account, history and savings attributes. "
    "Scores rank applicants only weakly, and on the hold-out split their expected UCI cost "
    "is close to, or worse than, declining every applicant (see baselines); use them as one "
    "input to a human decision, never alone. Trained on 1,000 West German applicants from "
    "the 1970s (Statlog German Credit, UCI). " + AGE_REASON
)

FULL_LIMITATIONS = (
    "Trained on 1,000 West German applicants from the 1970s (Statlog German Credit, UCI): "
    "amounts are in DM and the population is not today's; validate on your own applicants "
    "before use. Sex, marital status and nationality are not inputs (see excluded_columns), "
    "but other attributes can stand in for them; the fairness table shows approval rates "
    "by group on the hold-out split, which has only 200 applicants, so small groups' rates "
    "are uncertain. " + AGE_REASON
)
