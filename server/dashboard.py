"""``/dashboard``: the statistics of ``/v1/stats`` as one HTML page with inline SVG plots.

Rendered on the server from the same numbers as the JSON route: no JavaScript, no fonts
or scripts from elsewhere (a strict Content-Security-Policy says so), so it works on a
machine without internet access and in any browser. ``/`` redirects here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, redirect, render_template_string
from markupsafe import Markup, escape

from server import drift
from server.stats import all_stats, request_window

dashboard_page = Blueprint("dashboard", __name__)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"
WINDOWS = (("1 h", 1), ("24 h", 24), ("7 days", 168), ("30 days", 720))
BAND_COLOURS = {"stable": "#2e7d32", "moderate": "#ef8f00", "significant": "#c62828", None: "#999"}
APPROVE_COLOUR, DECLINE_COLOUR = "#2e7d32", "#c62828"


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def histogram_svg(
    counts: list[int], threshold: float, width: int = 420, height: int = 150
) -> Markup:
    """Bars of the score histogram over [0, 1] with the decision threshold as a line."""
    pad_left, pad_bottom, pad_top = 36, 22, 8
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    top = max(counts) if counts and max(counts) > 0 else 1
    bar_w = plot_w / max(len(counts), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="score histogram">'
    ]
    for i, count in enumerate(counts):
        h = plot_h * count / top
        x = pad_left + i * bar_w
        colour = DECLINE_COLOUR if (i + 1) / len(counts) > threshold else APPROVE_COLOUR
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{pad_top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{h:.1f}" fill="{colour}" opacity="0.75"><title>'
            f"{i / len(counts):.2f}–{(i + 1) / len(counts):.2f}: {count:,}</title></rect>"
        )
    tx = pad_left + plot_w * threshold
    parts.append(
        f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{pad_top}" y2="{pad_top + plot_h}" '
        'stroke="#222" stroke-dasharray="4 3"/>'
        f'<text x="{tx + 3:.1f}" y="{pad_top + 10}" font-size="10">threshold {threshold:.3f}</text>'
    )
    base = pad_top + plot_h
    parts.append(
        f'<line x1="{pad_left}" x2="{pad_left + plot_w}" y1="{base}" y2="{base}" stroke="#444"/>'
    )
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = pad_left + plot_w * tick
        parts.append(
            f'<text x="{x:.1f}" y="{base + 14}" font-size="10" text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{pad_left - 4}" y="{pad_top + 9}" font-size="10" '
        f'text-anchor="end">{top:,}</text>'
        f'<text x="{pad_left - 4}" y="{base}" font-size="10" text-anchor="end">0</text></svg>'
    )
    return Markup("".join(parts))  # noqa: S704 (numbers, and names escaped)


def share_bar_svg(approve: int, decline: int, width: int = 420, height: int = 26) -> Markup:
    """One stacked bar: the approve and decline shares."""
    total = approve + decline
    if total == 0:
        return Markup(  # noqa: S704 (numbers only)
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<rect width="{width}" height="{height}" fill="#eee"/>'
            f'<text x="6" y="17" font-size="11">no scores in this window</text></svg>'
        )
    w_approve = width * approve / total
    return Markup(  # noqa: S704 (numbers only)
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="approve and decline shares">'
        f'<rect width="{w_approve:.1f}" height="{height}" fill="{APPROVE_COLOUR}"/>'
        f'<rect x="{w_approve:.1f}" width="{width - w_approve:.1f}" height="{height}" '
        f'fill="{DECLINE_COLOUR}"/>'
        f'<text x="6" y="17" font-size="11" fill="#fff">approve {approve / total:.1%}</text>'
        f'<text x="{width - 6}" y="17" font-size="11" fill="#fff" text-anchor="end">'
        f"decline {decline / total:.1%}</text></svg>"
    )


def distribution_svg(feature: dict[str, Any], width: int = 165, height: int = 80) -> Markup:
    """Training shares (grey) beside live shares (band colour) for each decile bin."""
    expected = feature["expected"]
    actual_counts = feature["actual"]
    total = sum(actual_counts)
    actual = [c / total for c in actual_counts] if total else [0.0] * len(actual_counts)
    top = max([*expected, *actual, 0.01])
    n = len(expected)
    slot = (width - 4) / max(n, 1)
    plot_h = height - 14
    colour = BAND_COLOURS.get(feature.get("band"), "#999")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(feature["feature"])}: training and live shares per bin">'
    ]
    for i in range(n):
        x = 2 + i * slot
        for k, (share, fill) in enumerate(((expected[i], "#9e9e9e"), (actual[i], colour))):
            h = plot_h * share / top
            parts.append(
                f'<rect x="{x + 1 + k * (slot - 2) / 2:.1f}" y="{plot_h - h:.1f}" '
                f'width="{(slot - 2) / 2:.1f}" height="{h:.1f}" fill="{fill}"/>'
            )
    parts.append(
        f'<line x1="0" x2="{width}" y1="{plot_h}" y2="{plot_h}" stroke="#444"/>'
        f'<text x="2" y="{height - 2}" font-size="9">low</text>'
        f'<text x="{width - 2}" y="{height - 2}" font-size="9" text-anchor="end">high</text></svg>'
    )
    return Markup("".join(parts))  # noqa: S704 (numbers, and names escaped)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>CreditScorer – statistics</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1150px;
      padding:12px 20px;color:#222;background:#fafafa}
 h1{font-size:22px;margin:4px 0} h2{font-size:18px;margin:0 0 6px}
 h3{font-size:14px;margin:10px 0 4px}
 .muted{color:#666}
 .cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
 .card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px}
 table{border-collapse:collapse} td,th{padding:2px 8px 2px 0;text-align:left;vertical-align:top}
 td.num{text-align:right;font-variant-numeric:tabular-nums}
 .tiles{display:flex;gap:10px;flex-wrap:wrap;margin:8px 0 12px}
 .tile{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
 .tile b{display:block;font-size:20px} .band{font-weight:600}
 .drift{display:grid;grid-template-columns:repeat(3,1fr);gap:6px}
 nav a{margin-right:10px}
</style></head><body>
<h1>CreditScorer</h1>
<nav class="muted">Window: {{ window.since }} → {{ window.until }} ({{ window.hours }} h) ·
{% for label, hours in windows %}<a href="?hours={{ hours }}">{{ label }}</a>{% endfor %}
· <a href="/v1/stats?hours={{ window.hours }}">JSON</a></nav>
<div class="tiles">
 <div class="tile">requests<b>{{ num(totals.requests) }}</b></div>
 <div class="tile">rows scored<b>{{ num(totals.rows_scored) }}</b></div>
 <div class="tile">errors<b>{{ num(totals.errors) }}</b>
  <span class="muted">{% for s, n in totals.errors_by_status.items() %}{{ s }}: {{ num(n) }}
  {% endfor %}</span></div>
 <div class="tile">latency p50<b>{{ num(totals.latency_ms.p50, 2) }} ms</b></div>
 <div class="tile">p95<b>{{ num(totals.latency_ms.p95, 2) }} ms</b></div>
 <div class="tile">p99<b>{{ num(totals.latency_ms.p99, 2) }} ms</b></div>
</div>
<div class="cards">
{% for m in models %}
<section class="card" id="model-{{ m.model }}">
 <h2>{{ m.model }} <span class="muted" style="font-size:12px">{{ m.card.algorithm }} ·
  {{ m.version }}</span></h2>
 <table>
  <tr><th></th><th>CV (mean ± sd)</th><th>hold-out</th></tr>
  {% for key, label in metric_names %}
  <tr><td>{{ label }}</td>
   <td class="num">{{ num(m.card.cv[key].mean) }} ± {{ num(m.card.cv[key].std) }}</td>
   <td class="num">{{ num(m.card.holdout[key]) }}</td></tr>
  {% endfor %}
  <tr><td>threshold</td><td class="num" colspan="2">{{ num(m.card.threshold, 3) }}</td></tr>
 </table>
 {% set full = cards[m.model] %}
 {% if full.calibration %}
 <details class="calibration"><summary>Calibration
  (hold-out, {{ full.calibration.bins|length }} bins)</summary>
 <table>
  <tr><th>mean predicted</th><th>observed default rate</th><th>rows</th></tr>
  {% for b in full.calibration.bins %}
  <tr><td class="num">{{ num(b.mean_predicted) }}</td>
      <td class="num">{{ num(b.observed_default_rate) }}</td>
      <td class="num">{{ b.count }}</td></tr>
  {% endfor %}
 </table></details>
 {% endif %}
 {% if full.fairness %}
 <details class="fairness" open><summary>Fairness (hold-out)</summary>
 {% set gap = full.fairness.largest_approval_gap %}
 {% if gap %}<p>Largest approval-rate gap: <b>{{ num(gap.gap) }}</b> by {{ gap.by }}
  ({{ gap.highest.group }} {{ share(gap.highest.approval_rate) }} vs
  {{ gap.lowest.group }} {{ share(gap.lowest.approval_rate) }}).</p>{% endif %}
 <table>
  <tr><th>group</th><th>rows</th><th>approved</th><th>defaulted</th><th>ROC AUC</th></tr>
  {% for by, rows in full.fairness.groups.items() %}
  <tr><td colspan="5" class="muted">{{ by }}</td></tr>
  {% for r in rows %}
  <tr><td>{{ r.group }}</td><td class="num">{{ r.count }}</td>
      <td class="num">{{ share(r.approval_rate) }}</td>
      <td class="num">{{ share(r.default_rate) }}</td>
      <td class="num">{{ num(r.roc_auc) }}</td></tr>
  {% endfor %}{% endfor %}
 </table></details>
 {% endif %}
 <h3>Usage</h3>
 <table>
  <tr><td>requests</td><td class="num">{{ num(m.usage.requests) }}</td>
      <td>rows scored</td><td class="num">{{ num(m.usage.rows_scored) }}</td></tr>
  <tr><td>errors</td><td class="num">{{ num(m.usage.errors) }}</td>
      <td>row errors</td><td class="num">{{ num(m.usage.rows_failed) }}</td></tr>
  <tr><td>latency p50 / p95 / p99</td><td class="num" colspan="3">
      {{ num(m.usage.latency_ms.p50, 2) }} /
      {{ num(m.usage.latency_ms.p95, 2) }} / {{ num(m.usage.latency_ms.p99, 2) }} ms</td></tr>
 </table>
 <h3>Decisions</h3>{{ share_bar(m.usage.decisions.approve, m.usage.decisions.decline) }}
 <h3>Scores (probability of default)</h3>{{ histogram(m.score_histogram.counts, m.card.threshold) }}
 <h3>Drift against the training distribution (PSI)</h3>
 {% if m.drift.reference %}
 <div class="drift">
 {% for f in m.drift.features %}
  <div><b>{{ f.feature }}</b> PSI {{ num(f.psi) }}
   <span class="band" style="color:{{ colours.get(f.band, '#666') }}">
   {{- f.band or "no rows" }}</span><br>
   {{ distribution(f) }}</div>
 {% endfor %}
 </div>
 <p class="muted" style="font-size:12px">Grey: training share per decile bin; colour: live share.
 Bands: below 0.1 stable, 0.1–0.25 moderate, 0.25 and above significant; under
 {{ m.drift.min_rows }} rows of a feature, insufficient data (no PSI is shown).
 Reference: {{ m.drift.reference }};
 {{ num(m.drift.rows) }} rows of version {{ m.drift.version }}.</p>
 {% else %}<p class="muted">{{ m.drift.note }}</p>{% endif %}
</section>
{% endfor %}
</div>
</body></html>
"""

METRIC_NAMES = (
    ("roc_auc", "ROC AUC"),
    ("accuracy", "accuracy"),
    ("brier", "Brier score"),
    ("expected_cost", "UCI cost"),
)


def _cards(models: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each shown model's calibration and fairness tables, from its card."""
    store = current_app.extensions["creditscorer.store"]
    cards = {}
    for m in models:
        raw = store.get(m["model"]).card.raw
        cards[m["model"]] = {"calibration": raw.get("calibration"), "fairness": raw.get("fairness")}
    return cards


@dashboard_page.get("/")
def home() -> Response:
    return redirect("/dashboard", code=302)  # type: ignore[return-value]


@dashboard_page.get("/dashboard")
def dashboard() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stats = all_stats(app, request_window())
    html = render_template_string(
        PAGE,
        window=stats["window"],
        totals=stats["totals"],
        models=stats["models"],
        cards=_cards(stats["models"]),
        windows=WINDOWS,
        metric_names=METRIC_NAMES,
        colours=BAND_COLOURS,
        num=_number,
        share=_share,
        histogram=histogram_svg,
        share_bar=share_bar_svg,
        distribution=distribution_svg,
        bins=drift.SCORE_BINS,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    return response


def init_app(app: Flask) -> None:
    """Register ``/dashboard`` and the ``/`` redirect."""
    app.register_blueprint(dashboard_page)
