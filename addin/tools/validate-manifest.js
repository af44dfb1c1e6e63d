// Validates an add-in XML manifest offline with Microsoft's own packages:
// office-addin-manifest reads it (the parser Office's tools use), the converter turns it
// into the unified manifest, and @microsoft/app-manifest checks that against Microsoft's
// JSON Schema shipped in the package. Prints a JSON report; exits 1 when invalid.
"use strict";
process.env.OFFICE_ADDIN_USAGE_DATA_OPT_OUT = "1";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { OfficeAddinManifest } = require("office-addin-manifest");
const { convert } = require("office-addin-manifest-converter");
const { AppManifestUtils } = require("@microsoft/app-manifest");
// The first unified-manifest version whose schema holds Excel custom functions.
const SCHEMA_VERSION = "1.23";
const SCHEMA = `https://developer.microsoft.com/json-schemas/teams/v${SCHEMA_VERSION}/MicrosoftTeams.schema.json`;

async function main(manifestPath) {
  const info = await OfficeAddinManifest.readManifestFile(manifestPath);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "creditscorer-manifest-"));
  try {
    await convert(manifestPath, out, false, SCHEMA, SCHEMA_VERSION, false);
    const jsonPath = path.join(out, "manifest.json");
    const manifest = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
    const errors = await AppManifestUtils.validateAgainstSchema(manifest);
    const report = {
      id: info.id,
      displayName: info.displayName,
      hosts: info.hosts,
      schema: manifest.$schema,
      manifestVersion: manifest.manifestVersion,
      errors: errors,
    };
    console.log(JSON.stringify(report));
    process.exitCode = errors.length ? 1 : 0;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

main(process.argv[2]).catch((error) => {
  console.log(JSON.stringify({ errors: [String(error && error.message ? error.message : error)] }));
  process.exitCode = 1;
});
