/*
 * CreditScorer's task pane: server settings, model picker, scoring of the selected
 * table or row, and the model card. Plain JavaScript, served as it is.
 *
 * The pane reads the selection through Office.js (Excel.run), matches the header row
 * to the model card's features (by name or label, any case), sends the rows in chunks
 * of CHUNK_ROWS to /v1/predict/batch, and writes probability_default, decision, error
 * and warning in the four columns to the right of the table, chunk by chunk.
 */
/* global Excel, Office, CreditScorerFunctions */

(function () {
  "use strict";

  var SETTINGS_KEY = "creditscorer.settings";
  var CHUNK_ROWS = 500;
  var RESULT_COLUMNS = ["probability_default", "decision", "error", "warning"];

  function $(id) {
    return document.getElementById(id);
  }

  // --- settings (localStorage of the add-in's origin, never the workbook) -------------

  function loadSettings() {
    var saved = {};
    try {
      saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
    } catch (ignored) {
      saved = {};
    }
    return { server: saved.server || location.origin, key: saved.key || "", model: saved.model || "" };
  }

  function saveSettings(settings) {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
    if (window.CreditScorerFunctions) CreditScorerFunctions.clearCache();
  }

  function status(message, kind) {
    var line = $("status");
    line.textContent = message;
    line.className = kind || "";
  }

  // --- HTTP -------------------------------------------------------------------------------

  function problemText(reply, body) {
    if (body && body.detail) return String(body.detail);
    if (body && body.title) return String(body.title);
    return "the server answered HTTP " + reply.status;
  }

  async function api(path, body) {
    var settings = loadSettings();
    var server = String(settings.server).replace(/\/+$/, "");
    var headers = { Accept: "application/json" };
    if (settings.key) headers["X-API-Key"] = settings.key;
    var init = { method: body === undefined ? "GET" : "POST", headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var reply;
    try {
      reply = await fetch(server + path, init);
    } catch (error) {
      throw new Error("cannot reach " + server + " (" + error.message + ")");
    }
    var data = null;
    try {
      data = await reply.json();
    } catch (ignored) {
      data = null;
    }
    if (!reply.ok) throw new Error(problemText(reply, data));
    return data;
  }

  // --- models ---------------------------------------------------------------------------

  async function refreshModels() {
    var listing = await api("/v1/models");
    var select = $("model");
    var wanted = loadSettings().model || select.value;
    select.textContent = "";
    (listing.models || []).forEach(function (model) {
      var option = document.createElement("option");
      option.value = model.name;
      option.textContent = model.name + " (" + model.features.length + " features)";
      select.appendChild(option);
    });
    if (wanted) select.value = wanted;
    if (!select.value && select.options.length) select.value = select.options[0].value;
    return listing.models || [];
  }

  function selectedModel() {
    return $("model").value || "logistic";
  }

  // --- header matching ---------------------------------------------------------------------

  function fold(text) {
    return String(text === null || text === undefined ? "" : text)
      .trim()
      .replace(/\s+/g, " ")
      .toLowerCase();
  }

  /** Which card feature each header cell names (by name or label), or null. */
  function matchHeader(header, features) {
    var byText = new Map();
    features.forEach(function (f) {
      byText.set(fold(f.name), f.name);
      if (f.label) byText.set(fold(f.label), f.name);
    });
    var matched = header.map(function (cell) {
      return byText.has(fold(cell)) ? byText.get(fold(cell)) : null;
    });
    var missing = features
      .map(function (f) {
        return f.name;
      })
      .filter(function (name) {
        return matched.indexOf(name) < 0;
      });
    return { matched: matched, missing: missing };
  }

  function isBlankRow(row) {
    return row.every(function (v) {
      return v === "" || v === null || v === undefined;
    });
  }

  function plain(value) {
    return value === "" || value === undefined ? null : value;
  }

  // --- Excel ------------------------------------------------------------------------------

  /** The selection, or the region around it when one cell is selected. */
  async function tableRange(context) {
    var range = context.workbook.getSelectedRange();
    range.load("rowCount,columnCount");
    await context.sync();
    if (range.rowCount === 1 && range.columnCount === 1) range = range.getSurroundingRegion();
    range.load("values,rowIndex,columnIndex,rowCount,columnCount");
    await context.sync();
    return range;
  }

  async function scoreSelectedTable() {
    var model = selectedModel();
    var card = await api("/v1/models/" + encodeURIComponent(model));
    var progress = $("progress");
    await Excel.run(async function (context) {
      var range = await tableRange(context);
      var values = range.values;
      if (values.length < 2) throw new Error("select a table with a header row and at least one row");
      var match = matchHeader(values[0], card.features || []);
      if (match.missing.length) {
        throw new Error(
          "the header lacks " + match.missing.join(", ") + " (the " + model + " model's features; names or labels, any case)"
        );
      }
      var used = [];
      match.matched.forEach(function (name, j) {
        if (name !== null && used.every(function (u) { return u.name !== name; })) used.push({ name: name, column: j });
      });
      var columns = used.map(function (u) {
        return u.name;
      });
      var rows = values.slice(1);
      var sheet = range.worksheet;
      var outColumn = range.columnIndex + range.columnCount;
      sheet.getRangeByIndexes(range.rowIndex, outColumn, 1, RESULT_COLUMNS.length).values = [RESULT_COLUMNS.slice()];
      progress.hidden = false;
      progress.max = rows.length;
      progress.value = 0;
      var failed = 0;
      for (var start = 0; start < rows.length; start += CHUNK_ROWS) {
        var chunk = rows.slice(start, start + CHUNK_ROWS);
        var send = chunk.filter(function (row) {
          return !isBlankRow(row);
        });
        var results = [];
        if (send.length) {
          var reply = await api("/v1/predict/batch", {
            model: model,
            columns: columns,
            rows: send.map(function (row) {
              return used.map(function (u) {
                return plain(row[u.column]);
              });
            }),
          });
          var positions = RESULT_COLUMNS.map(function (name) {
            return reply.columns.indexOf(name);
          });
          results = reply.rows.map(function (row) {
            return positions.map(function (p) {
              return row[p] === null || row[p] === undefined ? "" : row[p];
            });
          });
        }
        var next = 0;
        var out = chunk.map(function (row) {
          if (isBlankRow(row)) return ["", "", "", ""];
          var result = results[next++];
          if (result[2]) failed += 1;
          return result;
        });
        sheet.getRangeByIndexes(range.rowIndex + 1 + start, outColumn, out.length, RESULT_COLUMNS.length).values = out;
        await context.sync();
        progress.value = Math.min(rows.length, start + chunk.length);
      }
      status(
        "Scored " + rows.length + " row(s) with " + model + (failed ? "; " + failed + " row(s) have an error" : "") + ".",
        failed ? "error" : "ok"
      );
    });
  }

  async function scoreThisRow() {
    var model = selectedModel();
    var card = await api("/v1/models/" + encodeURIComponent(model));
    await Excel.run(async function (context) {
      var cell = context.workbook.getSelectedRange();
      cell.load("rowIndex");
      var region = cell.getSurroundingRegion();
      region.load("values,rowIndex,columnIndex,columnCount");
      await context.sync();
      var offset = cell.rowIndex - region.rowIndex;
      if (offset < 1) throw new Error("select a cell in a data row of the table (below its header)");
      var match = matchHeader(region.values[0], card.features || []);
      if (match.missing.length) throw new Error("the header lacks " + match.missing.join(", "));
      var record = { model: model, reasons: true };
      match.matched.forEach(function (name, j) {
        if (name !== null && !(name in record)) record[name] = plain(region.values[offset][j]);
      });
      var result;
      var row;
      try {
        result = await api("/v1/predict", record);
        row = [result.probability_default, result.decision, "", (result.warnings || []).join("; ")];
      } catch (error) {
        row = ["", "", error.message, ""];
        result = null;
      }
      region.worksheet.getRangeByIndexes(cell.rowIndex, region.columnIndex + region.columnCount, 1, 4).values = [row];
      await context.sync();
      showRowResult(result, row);
    });
  }

  function showRowResult(result, row) {
    var box = $("row-result");
    box.hidden = false;
    box.textContent = "";
    if (!result) {
      status(row[2], "error");
      return;
    }
    status("Probability of default " + result.probability_default.toFixed(3) + ": " + result.decision + ".", "ok");
    if (Array.isArray(result.reasons) && result.reasons.length) {
      box.appendChild(heading("h3", "Reasons"));
      box.appendChild(
        table(
          ["feature", "contribution"],
          result.reasons.map(function (r) {
            return [r.feature, r.contribution];
          })
        )
      );
    }
  }

  // --- the model card -------------------------------------------------------------------------

  function heading(tag, text) {
    var element = document.createElement(tag);
    element.textContent = text;
    return element;
  }

  function formatted(value) {
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
    if (value === null || value === undefined) return "";
    return String(value);
  }

  function table(header, rows) {
    var element = document.createElement("table");
    var head = element.insertRow();
    header.forEach(function (name) {
      var th = document.createElement("th");
      th.textContent = name;
      head.appendChild(th);
    });
    rows.forEach(function (row) {
      var tr = element.insertRow();
      row.forEach(function (value) {
        var td = tr.insertCell();
        td.textContent = formatted(value);
        if (typeof value === "number") td.className = "num";
      });
    });
    return element;
  }

  function renderCard(card) {
    var body = $("card-body");
    body.textContent = "";
    body.appendChild(heading("h2", card.name + " " + card.version));
    body.appendChild(heading("p", card.algorithm + "; decline when probability_default \u2265 " + formatted((card.threshold || {}).value)));
    var metrics = card.metrics || {};
    var rows = [];
    Object.keys(metrics.holdout || {}).forEach(function (name) {
      var cv = (metrics.cv || {})[name] || {};
      rows.push([name, metrics.holdout[name], cv.mean, cv.std]);
    });
    if (rows.length) {
      body.appendChild(heading("h3", "Metrics"));
      body.appendChild(table(["metric", "hold-out", "CV mean", "CV std"], rows));
    }
    body.appendChild(heading("h3", "Features"));
    body.appendChild(
      table(
        ["name", "label", "type", "accepted"],
        (card.features || []).map(function (f) {
          var accepted = f.accepted ? f.accepted.min + " to " + f.accepted.max : "";
          if (f.type === "category") {
            accepted = (f.categories || []).map(function (c) { return c.code; }).join(", ");
          }
          return [f.name, f.label || f.name, f.type, accepted];
        })
      )
    );
    if (card.calibration && Array.isArray(card.calibration.bins)) {
      body.appendChild(heading("h3", "Calibration (hold-out)"));
      body.appendChild(
        table(
          ["mean predicted", "observed default rate", "rows"],
          card.calibration.bins.map(function (b) {
            return [b.mean_predicted, b.observed_default_rate, b.count];
          })
        )
      );
    }
    if (card.fairness && card.fairness.groups) {
      body.appendChild(heading("h3", "Fairness (hold-out)"));
      Object.keys(card.fairness.groups).forEach(function (by) {
        body.appendChild(heading("h4", by));
        body.appendChild(
          table(
            ["group", "rows", "approval rate", "default rate", "ROC AUC"],
            card.fairness.groups[by].map(function (g) {
              return [g.group, g.count, g.approval_rate, g.default_rate, g.roc_auc];
            })
          )
        );
      });
      var gap = card.fairness.largest_approval_gap;
      if (gap) body.appendChild(heading("p", "Largest approval gap: " + formatted(gap.gap) + " by " + gap.by));
    }
  }

  async function showCard() {
    renderCard(await api("/v1/models/" + encodeURIComponent(selectedModel())));
    $("pane").hidden = true;
    $("card").hidden = false;
  }

  // --- wiring ---------------------------------------------------------------------------------

  function guarded(action) {
    return async function () {
      try {
        await action();
      } catch (error) {
        status(error.message || String(error), "error");
      }
    };
  }

  async function connect() {
    var models = await refreshModels();
    status("Connected: " + models.length + " model(s).", "ok");
  }

  function start() {
    var settings = loadSettings();
    $("server").value = settings.server;
    $("key").value = settings.key;
    $("save").addEventListener(
      "click",
      guarded(async function () {
        var server = $("server").value.trim().replace(/\/+$/, "");
        if (!/^https?:\/\//i.test(server)) throw new Error("Address: must start with https:// (or http:// for a local server)");
        if (new URL(server).origin !== location.origin) {
          throw new Error("Address: this add-in was loaded from " + location.origin + " and may only call that server");
        }
        saveSettings({ server: server, key: $("key").value.trim(), model: selectedModel() });
        await connect();
      })
    );
    $("model").addEventListener("change", function () {
      var current = loadSettings();
      current.model = selectedModel();
      saveSettings(current);
    });
    $("score-table").addEventListener("click", guarded(scoreSelectedTable));
    $("score-row").addEventListener("click", guarded(scoreThisRow));
    $("show-card").addEventListener("click", guarded(showCard));
    $("back").addEventListener("click", function () {
      $("card").hidden = true;
      $("pane").hidden = false;
    });
    guarded(connect)();
  }

  window.CreditScorerPane = { matchHeader: matchHeader };
  if (window.Office && Office.onReady) Office.onReady(start);
  else document.addEventListener("DOMContentLoaded", start);
})();
