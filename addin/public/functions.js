/*
 * CreditScorer's Excel custom functions (namespace CREDITSCORER).
 *
 * Plain JavaScript, served as it is: the same file runs in Excel's shared runtime and
 * in Node (the tests), where it exports its functions instead of registering them.
 *
 * Batching: every SCORE / SCORE_RECORD call made while Excel recalculates is queued,
 * and the queue is sent once the current burst of calls is over, as one
 * /v1/predict/batch request per model and column list. SCORE_TABLE sends its whole
 * table as one request.
 *
 * The cache follows the xlwings UDFs' rules: a result is kept under (server, model,
 * model version, operation, inputs); the last version seen per (server, model) is
 * trusted for 15 seconds; after that a cached result is served only once one
 * GET /health confirms the version is still live. Inputs never seen are sent straight
 * away. Errors are never cached.
 *
 * Settings (server address and API key) are the task pane's, kept in this browser's
 * localStorage under "creditscorer.settings", never in the workbook.
 */
/* global CustomFunctions, localStorage, location, module */

(function (root) {
  "use strict";

  var DEFAULT_MODEL = "logistic";
  var SETTINGS_KEY = "creditscorer.settings";
  var RESULT_COLUMNS = ["probability_default", "decision", "error", "warning"];
  var SEED_FEATURES = ["duration", "amount", "age"];

  var options = { versionTtlMs: 15000, maxCachedRows: 200000, now: Date.now };
  var cache = new Map(); // key -> {weight, value}; Map keeps insertion order for LRU
  var cachedRows = 0;
  var versions = new Map(); // server|model -> {version, seenAt}
  var queue = [];
  var flushScheduled = false;

  // --- errors ------------------------------------------------------------------------

  function excelError(kind, message) {
    var api = root.CustomFunctions;
    var code = api && api.ErrorCode ? api.ErrorCode[kind] : kind;
    if (api && api.Error) {
      return new api.Error(code, message);
    }
    var error = new Error(message);
    error.code = code;
    return error;
  }

  function inputError(message) {
    return excelError("invalidValue", message); // #VALUE!
  }

  function serverError(message) {
    return excelError("notAvailable", message); // #N/A
  }

  // --- settings and HTTP ---------------------------------------------------------------

  function readSettings() {
    var saved = {};
    try {
      saved = JSON.parse(root.localStorage.getItem(SETTINGS_KEY) || "{}") || {};
    } catch (ignored) {
      saved = {};
    }
    var origin = root.location && root.location.origin ? root.location.origin : "";
    var server = String(saved.server || origin).replace(/\/+$/, "");
    if (!/^https?:\/\//i.test(server)) {
      throw serverError("no server address: set it in the CreditScorer task pane");
    }
    return { server: server, key: saved.key ? String(saved.key) : "" };
  }

  function problemMessage(status, body) {
    if (body && typeof body === "object") {
      if (body.detail) return String(body.detail);
      if (Array.isArray(body.errors) && body.errors.length) {
        return body.errors
          .map(function (e) {
            return e.field ? e.field + ": " + e.message : e.message;
          })
          .join("; ");
      }
      if (body.title) return String(body.title);
    }
    return "the server answered HTTP " + status;
  }

  async function call(settings, method, path, body) {
    var headers = { Accept: "application/json" };
    if (settings.key) headers["X-API-Key"] = settings.key;
    var init = { method: method, headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var reply;
    try {
      reply = await root.fetch(settings.server + path, init);
    } catch (error) {
      throw serverError("cannot reach " + settings.server + ": " + error.message);
    }
    var data = null;
    try {
      data = await reply.json();
    } catch (ignored) {
      data = null;
    }
    if (!reply.ok) {
      var message = problemMessage(reply.status, data);
      // A request the server refuses for its values is the cell's fault: #VALUE!.
      if (reply.status === 400 || reply.status === 404 || reply.status === 422) {
        throw inputError(message);
      }
      throw serverError(message);
    }
    if (data === null) throw serverError(settings.server + " answered without JSON");
    return data;
  }

  // --- cache ------------------------------------------------------------------------------

  function cacheGet(key) {
    var entry = cache.get(key);
    if (entry === undefined) return undefined;
    cache.delete(key);
    cache.set(key, entry); // most recently used goes last
    return entry.value;
  }

  function cachePut(key, value, weight) {
    weight = Math.max(1, weight || 1);
    if (weight > options.maxCachedRows) return;
    var old = cache.get(key);
    if (old !== undefined) {
      cachedRows -= old.weight;
      cache.delete(key);
    }
    cache.set(key, { weight: weight, value: value });
    cachedRows += weight;
    while (cachedRows > options.maxCachedRows) {
      var first = cache.keys().next().value;
      cachedRows -= cache.get(first).weight;
      cache.delete(first);
    }
  }

  function versionOf(server, model) {
    var seen = versions.get(server + "|" + model);
    if (!seen) return { version: null, fresh: false };
    return { version: seen.version, fresh: options.now() - seen.seenAt < options.versionTtlMs };
  }

  function rememberVersion(server, model, version) {
    versions.set(server + "|" + model, { version: version, seenAt: options.now() });
  }

  async function liveVersions(settings) {
    var health = await call(settings, "GET", "/health");
    var models = health.models || {};
    Object.keys(models).forEach(function (name) {
      rememberVersion(settings.server, name, String(models[name]));
    });
    return models;
  }

  function cacheKey(server, model, version, operation, inputs) {
    return JSON.stringify([server, model, version, operation, inputs]);
  }

  /*
   * Cached results for many lookups at once: entries whose version is no longer
   * trusted cost one /health for the whole set. Returns an array of hits (undefined
   * for a miss).
   */
  async function lookup(settings, model, operation, inputsList) {
    var known = versionOf(settings.server, model);
    if (known.version === null) return inputsList.map(function () {});
    var hits = inputsList.map(function (inputs) {
      return cacheGet(cacheKey(settings.server, model, known.version, operation, inputs));
    });
    var anyHit = hits.some(function (h) {
      return h !== undefined;
    });
    if (!anyHit || known.fresh) return hits;
    var live = (await liveVersions(settings))[model];
    if (live === undefined) return inputsList.map(function () {});
    live = String(live);
    if (live === known.version) return hits;
    return inputsList.map(function (inputs) {
      return cacheGet(cacheKey(settings.server, model, live, operation, inputs));
    });
  }

  async function cached(settings, model, operation, inputs, fetchReply, versionField, weight) {
    var hit = (await lookup(settings, model, operation, [inputs]))[0];
    if (hit !== undefined) return hit;
    var reply = await fetchReply();
    var version = reply[versionField];
    if (typeof version !== "string" || !version) {
      throw serverError(settings.server + " answered without a model version");
    }
    rememberVersion(settings.server, model, version);
    cachePut(cacheKey(settings.server, model, version, operation, inputs), reply, weight);
    return reply;
  }

  // --- cell values ----------------------------------------------------------------------------

  function modelName(value) {
    if (value === undefined || value === null || (typeof value === "string" && !value.trim())) {
      return DEFAULT_MODEL;
    }
    if (typeof value !== "string") {
      throw inputError("model: must be a model name such as 'forest' (got " + value + ")");
    }
    return value.trim().toLowerCase();
  }

  function cellValue(value) {
    // Excel hands an empty cell over as "" (or null); the API's message names it.
    if (value === "" || value === undefined) return null;
    return value;
  }

  function singleValue(name, value) {
    if (Array.isArray(value)) {
      var flat = [].concat.apply([], value);
      if (flat.length !== 1) {
        throw inputError(name + ": expects one cell, got a range of " + flat.length + " cells");
      }
      value = flat[0];
    }
    return cellValue(value);
  }

  function flag(name, value, fallback) {
    if (value === undefined || value === null || value === "") return fallback;
    if (typeof value === "boolean") return value;
    if (value === 0 || value === 1) return value === 1;
    var word = String(value).trim().toLowerCase();
    if (["true", "yes", "1"].indexOf(word) >= 0) return true;
    if (["false", "no", "0"].indexOf(word) >= 0) return false;
    throw inputError(name + ": must be TRUE or FALSE (got " + value + ")");
  }

  function resultColumns(reply, nRows) {
    var columns = reply.columns;
    var rows = reply.rows;
    if (!Array.isArray(columns) || !Array.isArray(rows) || rows.length !== nRows) {
      throw serverError("the batch reply does not hold " + nRows + " result rows");
    }
    var positions = RESULT_COLUMNS.map(function (name) {
      return columns.indexOf(name);
    });
    if (positions.indexOf(-1) >= 0) throw serverError("the batch reply lacks result columns");
    return rows.map(function (row) {
      return positions.map(function (j) {
        return row[j] === undefined ? null : row[j];
      });
    });
  }

  // --- the batching queue -----------------------------------------------------------------

  function enqueue(model, columns, values) {
    return new Promise(function (resolve, reject) {
      queue.push({ model: model, columns: columns, values: values, resolve: resolve, reject: reject });
      if (!flushScheduled) {
        flushScheduled = true;
        setTimeout(flush, 0); // after the current burst of calls
      }
    });
  }

  async function flushGroup(settings, model, columns, items) {
    var operation = "score:" + JSON.stringify(columns);
    var hits = await lookup(
      settings,
      model,
      operation,
      items.map(function (item) {
        return item.values;
      })
    );
    var misses = [];
    items.forEach(function (item, i) {
      if (hits[i] !== undefined) item.resolve(hits[i]);
      else misses.push(item);
    });
    if (!misses.length) return;
    // One request per distinct row: the same applicant in ten cells is sent once.
    var distinct = new Map();
    misses.forEach(function (item) {
      var key = JSON.stringify(item.values);
      if (!distinct.has(key)) distinct.set(key, []);
      distinct.get(key).push(item);
    });
    var rows = Array.from(distinct.keys()).map(function (key) {
      return JSON.parse(key);
    });
    var reply = await call(settings, "POST", "/v1/predict/batch", {
      model: model,
      columns: columns,
      rows: rows,
    });
    var results = resultColumns(reply, rows.length);
    var version = reply.model_version;
    if (typeof version !== "string" || !version) {
      throw serverError(settings.server + " answered without a model version");
    }
    rememberVersion(settings.server, model, version);
    Array.from(distinct.values()).forEach(function (group, i) {
      var result = results[i];
      if (result[2]) {
        group.forEach(function (item) {
          item.reject(inputError(String(result[2])));
        });
        return;
      }
      cachePut(cacheKey(settings.server, model, version, operation, rows[i]), result, 1);
      group.forEach(function (item) {
        item.resolve(result);
      });
    });
  }

  async function flush() {
    flushScheduled = false;
    var items = queue;
    queue = [];
    var groups = new Map();
    items.forEach(function (item) {
      var key = JSON.stringify([item.model, item.columns]);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(item);
    });
    var settings;
    try {
      settings = readSettings();
    } catch (error) {
      items.forEach(function (item) {
        item.reject(error);
      });
      return;
    }
    await Promise.all(
      Array.from(groups.values()).map(function (group) {
        return flushGroup(settings, group[0].model, group[0].columns, group).catch(function (error) {
          group.forEach(function (item) {
            item.reject(error);
          });
        });
      })
    );
  }

  function probability(result) {
    var value = result[0];
    if (typeof value !== "number") throw serverError("the reply carries no probability_default");
    return value;
  }

  async function card(settings, model) {
    return cached(
      settings,
      model,
      "card",
      [],
      function () {
        return call(settings, "GET", "/v1/models/" + encodeURIComponent(model));
      },
      "version",
      1
    );
  }

  // --- the functions ----------------------------------------------------------------------------

  async function score(duration, amount, age, model) {
    var name = modelName(model);
    var values = [singleValue("duration", duration), singleValue("amount", amount), singleValue("age", age)];
    return probability(await enqueue(name, SEED_FEATURES, values));
  }

  async function scoreRecord(names, values, model) {
    var name = modelName(model);
    var columns = [].concat.apply([], names).map(function (v) {
      return String(v).trim().toLowerCase();
    });
    var row = [].concat.apply([], values).map(cellValue);
    if (columns.length !== row.length) {
      throw inputError(
        "values: " + row.length + " value(s) for " + columns.length + " name(s); give one value per name"
      );
    }
    return probability(await enqueue(name, columns, row));
  }

  async function scoreTable(table, model, header) {
    var name = modelName(model);
    var withHeader = flag("header", header, true);
    var rows = (Array.isArray(table) ? table : [[table]]).map(function (row) {
      return Array.isArray(row) ? row : [row];
    });
    var settings = readSettings();
    var columns;
    if (withHeader) {
      if (rows.length < 1) throw inputError("table: the range is empty");
      columns = rows[0].map(function (v) {
        return String(v).trim().toLowerCase();
      });
      rows = rows.slice(1);
    } else {
      columns = ((await card(settings, name)).features || []).map(function (f) {
        return f.name;
      });
      if (rows.length && rows[0].length !== columns.length) {
        throw inputError(
          "table: without a header row the table needs " +
            columns.length +
            " columns (" +
            columns.join(", ") +
            ", in that order); it has " +
            rows[0].length
        );
      }
    }
    var blank = rows.map(function (row) {
      return row.every(function (v) {
        return v === "" || v === null || v === undefined;
      });
    });
    var send = rows
      .filter(function (row, i) {
        return !blank[i];
      })
      .map(function (row) {
        return row.map(cellValue);
      });
    var results = [];
    if (send.length) {
      var reply = await cached(
        settings,
        name,
        "table",
        [columns, send],
        function () {
          return call(settings, "POST", "/v1/predict/batch", { model: name, columns: columns, rows: send });
        },
        "model_version",
        send.length
      );
      results = resultColumns(reply, send.length);
    }
    var next = 0;
    var out = blank.map(function (isBlank) {
      return isBlank ? ["", "", "", ""] : results[next++].map(function (v) {
        return v === null ? "" : v;
      });
    });
    return [RESULT_COLUMNS.slice()].concat(out);
  }

  async function features(model) {
    var name = modelName(model);
    var found = await card(readSettings(), name);
    var rows = [["name", "type", "label", "unit", "accepted"]];
    (found.features || []).forEach(function (f) {
      var accepted = "";
      if (f.type === "category") {
        accepted = (f.categories || [])
          .map(function (c) {
            return c.code + " (" + c.label + ")";
          })
          .join(", ");
      } else if (f.accepted) {
        accepted = f.accepted.min + " to " + f.accepted.max;
      }
      rows.push([f.name, f.type, f.label || f.name, f.unit || "", accepted]);
    });
    return rows;
  }

  var functions = { SCORE: score, SCORE_RECORD: scoreRecord, SCORE_TABLE: scoreTable, FEATURES: features };

  /** Forget every cached result and model version (the task pane's "Clear cache"). */
  function clearCache() {
    var count = cache.size;
    cache.clear();
    cachedRows = 0;
    versions.clear();
    return count;
  }

  function configure(changes) {
    Object.keys(changes || {}).forEach(function (name) {
      options[name] = changes[name];
    });
  }

  var exported = { functions: functions, clearCache: clearCache, configure: configure, SETTINGS_KEY: SETTINGS_KEY };
  root.CreditScorerFunctions = exported;
})(typeof globalThis !== "undefined" ? globalThis : this);

// --- the worksheet functions (top level, where custom-functions-metadata reads them) ---

/**
 * Probability of default for one applicant of the seed models (duration, amount, age).
 * @customfunction SCORE
 * @param {number} duration Loan duration in months.
 * @param {number} amount Credit amount in DM.
 * @param {number} age Applicant's age in years.
 * @param {string} [model] Model name; blank means logistic.
 * @returns {number} The probability of default, 0 to 1.
 */
function creditscorerScore(duration, amount, age, model) {
  return globalThis.CreditScorerFunctions.functions.SCORE(duration, amount, age, model);
}

/**
 * Probability of default for one applicant of any model: feature names and their values.
 * @customfunction SCORE_RECORD
 * @param {any[][]} names Feature names, as in the model card (one row or column).
 * @param {any[][]} values The applicant's values, in the same order.
 * @param {string} [model] Model name; blank means logistic.
 * @returns {number} The probability of default, 0 to 1.
 */
function creditscorerScoreRecord(names, values, model) {
  return globalThis.CreditScorerFunctions.functions.SCORE_RECORD(names, values, model);
}

/**
 * Scores a whole table in one request: probability, decision, error and warning per row.
 * @customfunction SCORE_TABLE
 * @param {any[][]} table The table; with a header row its columns are matched by name.
 * @param {string} [model] Model name; blank means logistic.
 * @param {boolean} [header] Whether the first row names the columns (default TRUE).
 * @returns {any[][]} A header row, then one result row per input row.
 */
function creditscorerScoreTable(table, model, header) {
  return globalThis.CreditScorerFunctions.functions.SCORE_TABLE(table, model, header);
}

/**
 * The model's features as its card lists them: name, type, label, unit, accepted values.
 * @customfunction FEATURES
 * @param {string} [model] Model name; blank means logistic.
 * @returns {any[][]} A header row, then one row per feature.
 */
function creditscorerFeatures(model) {
  return globalThis.CreditScorerFunctions.functions.FEATURES(model);
}

if (typeof CustomFunctions !== "undefined" && typeof CustomFunctions.associate === "function") {
  CustomFunctions.associate("SCORE", creditscorerScore);
  CustomFunctions.associate("SCORE_RECORD", creditscorerScoreRecord);
  CustomFunctions.associate("SCORE_TABLE", creditscorerScoreTable);
  CustomFunctions.associate("FEATURES", creditscorerFeatures);
}
if (typeof module === "object" && module.exports) {
  module.exports = Object.assign({}, globalThis.CreditScorerFunctions, {
    SCORE: creditscorerScore,
    SCORE_RECORD: creditscorerScoreRecord,
    SCORE_TABLE: creditscorerScoreTable,
    FEATURES: creditscorerFeatures,
  });
}
