// The task pane in headless Chromium against a real server (CREDITSCORER_URL, key in
// CREDITSCORER_KEY), with Microsoft's office-addin-mock standing in for Excel's object
// model. office.js is the one file the page loads from Microsoft's CDN: here it is
// answered by a stand-in whose Excel.run hands the pane a mocked workbook.
"use strict";
const fs = require("fs");
const path = require("path");
const assert = require("node:assert/strict");
const { chromium } = require("playwright-core");

const SERVER = process.env.CREDITSCORER_URL;
const KEY = process.env.CREDITSCORER_KEY;
const SHOT = process.env.CREDITSCORER_SCREENSHOT;

function mockModules() {
  // office-addin-mock's own files, run in the page with a small CommonJS loader; its one
  // import of office-addin-manifest (for the OfficeApp enum) gets the real enum's values.
  const lib = path.dirname(require.resolve("office-addin-mock"));
  const files = {};
  for (const name of ["main", "officeMockObject", "host", "possibleErrors"]) {
    files["./" + name] = fs.readFileSync(path.join(lib, name + ".js"), "utf8");
  }
  const officeApp = require("office-addin-manifest").OfficeApp;
  return `(() => {
    const sources = ${JSON.stringify(files)};
    const cache = { "office-addin-manifest": { OfficeApp: ${JSON.stringify(officeApp)} } };
    function load(name) {
      if (cache[name]) return cache[name];
      const module = { exports: {} };
      cache[name] = module.exports;
      new Function("exports", "require", "module", sources[name])(module.exports, load, module);
      cache[name] = module.exports;
      return module.exports;
    }
    window.OfficeAddinMock = load("./main");
  })();`;
}

const OFFICE_STAND_IN = `
  window.Office = { onReady: (callback) => setTimeout(() => callback({ host: "Excel" }), 0) };
  window.Excel = { run: (batch) => batch(window.__excelContext()) };
`;

// A worksheet as a grid; the selection is a mocked Range whose properties are readable
// only after load() and sync(), as in Excel.
const WORKBOOK = `
  window.__written = {};
  window.__excelContext = () => {
    const { OfficeMockObject } = window.OfficeAddinMock;
    const grid = window.__grid;
    const made = [];
    const worksheet = {
      getRangeByIndexes: (row, column, height, width) => ({
        set values(values) {
          values.forEach((line, i) => line.forEach((v, j) => { window.__written[(row + i) + "," + (column + j)] = v; }));
        },
      }),
    };
    function range(row, column, height, width) {
      const values = grid.slice(row, row + height).map((line) => line.slice(column, column + width));
      const mock = new OfficeMockObject({
        values, rowIndex: row, columnIndex: column, rowCount: height, columnCount: width,
        getSurroundingRegion: () => range(0, 0, grid.length, grid[0].length),
      });
      mock.worksheet = worksheet;
      made.push(mock);
      return mock;
    }
    const selection = window.__selection;
    return {
      workbook: { getSelectedRange: () => range(selection[0], selection[1], selection[2], selection[3]) },
      sync: async () => { for (const mock of made) await mock.sync(); },
    };
  };
`;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 420, height: 760 } });
    const outside = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url === "https://appsforoffice.microsoft.com/lib/1/hosted/office.js") {
        return route.fulfill({ contentType: "text/javascript", body: OFFICE_STAND_IN });
      }
      if (!url.startsWith(SERVER)) {
        outside.push(url);
        return route.abort();
      }
      return route.continue();
    });
    const cspErrors = [];
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
    await page.addInitScript(mockModules());
    await page.addInitScript(WORKBOOK);
    await page.addInitScript(() => {
      window.__grid = [
        ["Duration", "amount", "AGE", "name"],
        [12, 1500, 30, "Ada"],
        [24, 4000, 12, "too young"],
        [48, 12000, 61, "Bo"],
      ];
      window.__selection = [0, 0, 4, 4];
    });
    await page.goto(SERVER + "/addin/taskpane.html");
    // No key yet on a keyed server: the server's own message.
    await page.waitForFunction(() => /API key/.test(document.getElementById("status").textContent));
    await page.fill("#key", "cs_wrong_0000");
    await page.click("#save");
    await page.waitForFunction(() => /not valid/.test(document.getElementById("status").textContent));
    const wrongKey = await page.textContent("#status");
    await page.fill("#key", KEY);
    await page.click("#save");
    await page.waitForFunction(() => /^Connected/.test(document.getElementById("status").textContent));
    const models = await page.$$eval("#model option", (o) => o.map((x) => x.value));
    await page.selectOption("#model", "logistic");
    await page.click("#score-table");
    await page.waitForFunction(() => /^Scored/.test(document.getElementById("status").textContent));
    const written = await page.evaluate(() => window.__written);
    const status = await page.textContent("#status");
    const progress = await page.$eval("#progress", (p) => [p.value, p.max]);
    const stored = await page.evaluate(() => localStorage.getItem("creditscorer.settings"));
    if (SHOT) await page.screenshot({ path: SHOT });
    await page.click("#show-card");
    await page.waitForSelector("#card:not([hidden]) table");
    const cardHeadings = await page.$$eval("#card-body h3", (h) => h.map((x) => x.textContent));
    console.log(JSON.stringify({ wrongKey, models, written, status, progress, stored, cardHeadings, outside, cspErrors }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exitCode = 1;
});
