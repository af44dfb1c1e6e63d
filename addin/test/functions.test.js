// The custom functions' code in Node against a real CreditScorer server
// (CREDITSCORER_URL, started by tests/test_addin_functions.py).
// Excel's CustomFunctions object and the pane's localStorage are stood in for by the
// few members the code uses; fetch is Node's own, counted on its way to the server.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");

const SERVER = process.env.CREDITSCORER_URL;
assert.ok(SERVER, "CREDITSCORER_URL must name the server under test");

class ExcelError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const associated = {};
globalThis.CustomFunctions = {
  Error: ExcelError,
  ErrorCode: { invalidValue: "#VALUE!", notAvailable: "#N/A" },
  associate: (id, fn) => {
    associated[id] = fn;
  },
};
const store = new Map();
globalThis.localStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
};
const realFetch = globalThis.fetch;
const requests = [];
globalThis.fetch = (url, init) => {
  requests.push({ url: String(url).slice(SERVER.length), method: (init && init.method) || "GET" });
  return realFetch(url, init);
};

const cf = require("../public/functions.js");
let clock = 1_000_000;
cf.configure({ now: () => clock });

function useServer(key) {
  localStorage.setItem(cf.SETTINGS_KEY, JSON.stringify({ server: SERVER, key: key || "" }));
  cf.clearCache();
  requests.length = 0;
}

async function api(pathname, body) {
  const reply = await realFetch(SERVER + pathname, {
    method: body ? "POST" : "GET",
    headers: { "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return reply.json();
}

test("every function in functions.json is associated with its code", () => {
  const metadata = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "public", "functions.json"), "utf8"));
  const ids = metadata.functions.map((f) => f.id).sort();
  assert.deepEqual(Object.keys(associated).sort(), ids);
  assert.deepEqual(ids, ["FEATURES", "SCORE", "SCORE_RECORD", "SCORE_TABLE"]);
});

test("SCORE gives the API's probability, and cells recalculated together cost one request", async () => {
  useServer();
  const applicants = [
    [12, 1500, 30],
    [24, 4000, 35],
    [48, 12000, 61],
  ];
  const values = await Promise.all(applicants.map((a) => associated.SCORE(a[0], a[1], a[2])));
  assert.deepEqual(requests, [{ url: "/v1/predict/batch", method: "POST" }]);
  for (let i = 0; i < applicants.length; i++) {
    const [duration, amount, age] = applicants[i];
    const expected = await api("/v1/predict", { duration, amount, age });
    assert.equal(values[i], expected.probability_default);
  }
  const forest = await associated.SCORE(24, 4000, 35, "forest");
  const expected = await api("/v1/predict", { duration: 24, amount: 4000, age: 35, model: "forest" });
  assert.equal(forest, expected.probability_default);
});

test("a bad value is #VALUE! with the API's message, and the other cells still score", async () => {
  useServer();
  const [bad, good] = await Promise.allSettled([associated.SCORE(24, 4000, 12), associated.SCORE(24, 4000, 40)]);
  assert.equal(bad.status, "rejected");
  assert.ok(bad.reason instanceof ExcelError);
  assert.equal(bad.reason.code, "#VALUE!");
  assert.match(bad.reason.message, /^age: must be between 18 and 100/);
  assert.equal(good.status, "fulfilled");
  assert.equal(requests.length, 1);
  await assert.rejects(associated.SCORE(24, 4000, 40, "nope"), (e) => e.code === "#VALUE!" && /unknown model 'nope'/.test(e.message));
});

test("a server that cannot be reached is #N/A with a message naming it", async () => {
  localStorage.setItem(cf.SETTINGS_KEY, JSON.stringify({ server: "http://127.0.0.1:9" }));
  cf.clearCache();
  await assert.rejects(associated.SCORE(24, 4000, 40), (e) => e.code === "#N/A" && /cannot reach http:\/\/127\.0\.0\.1:9/.test(e.message));
});

test("cache: served without a request for 15 s, then after one /health, and a new input goes straight out", async () => {
  useServer();
  const first = await associated.SCORE(18, 2500, 44);
  assert.equal(requests.length, 1);
  clock += 14_000;
  assert.equal(await associated.SCORE(18, 2500, 44), first);
  assert.equal(requests.length, 1, "within 15 s a cached score costs no request");
  clock += 2_000;
  assert.equal(await associated.SCORE(18, 2500, 44), first);
  assert.deepEqual(requests.slice(1), [{ url: "/health", method: "GET" }]);
  await associated.SCORE(19, 2500, 44);
  assert.deepEqual(requests.slice(2), [{ url: "/v1/predict/batch", method: "POST" }]);
});

test("SCORE_TABLE sends one request per table and returns the API's columns", async () => {
  useServer();
  const table = [
    ["Age", "duration", "amount", "note"],
    [30, 12, 1500, "x"],
    ["", "", "", ""],
    [12, 24, 4000, "too young"],
    [45, 36, 9000, ""],
  ];
  const result = await associated.SCORE_TABLE(table, "logistic");
  assert.equal(requests.length, 1);
  assert.deepEqual(result[0], ["probability_default", "decision", "error", "warning"]);
  assert.equal(result.length, table.length);
  const expected = await api("/v1/predict/batch", {
    columns: ["age", "duration", "amount"],
    rows: [
      [30, 12, 1500],
      [12, 24, 4000],
      [45, 36, 9000],
    ],
  });
  assert.equal(result[1][0], expected.rows[0][0]);
  assert.deepEqual(result[2], ["", "", "", ""]);
  assert.match(result[3][2], /^age: must be between 18 and 100/);
  assert.equal(result[4][1], expected.rows[2][1]);
  assert.deepEqual(await associated.SCORE_TABLE(table, "logistic"), result);
  assert.equal(requests.length, 1, "the same table again is served from the cache");
});

test("SCORE_RECORD and FEATURES follow the card of any model", async () => {
  useServer();
  const models = (await api("/v1/models")).models.map((m) => m.name);
  for (const model of models) {
    const card = await api("/v1/models/" + model);
    const features = await associated.FEATURES(model);
    assert.deepEqual(features[0], ["name", "type", "label", "unit", "accepted"]);
    assert.deepEqual(
      features.slice(1).map((r) => r[0]),
      card.features.map((f) => f.name)
    );
    // A valid record from the card: the middle of each range, the first category's label.
    const names = card.features.map((f) => f.name);
    const values = card.features.map((f) =>
      f.type === "category" ? f.categories[0].label : Math.round((f.training_range.min + f.training_range.max) / 2)
    );
    const record = Object.fromEntries(names.map((n, i) => [n, values[i]]));
    const expected = await api("/v1/predict", { ...record, model });
    assert.equal(await associated.SCORE_RECORD([names], [values], model), expected.probability_default);
  }
  await assert.rejects(associated.SCORE_RECORD([["duration", "amount"]], [[1]]), (e) => e.code === "#VALUE!" && /1 value\(s\) for 2 name\(s\)/.test(e.message));
});
