// Parse Power Query (M) text from stdin with Microsoft's parser; print one JSON line:
// {"ok": true} or {"ok": false, "stage": "lex"|"parse", "message": "..."}.
// Exit code 0 when the text parses, 1 when it does not.
"use strict";
const PQP = require("@microsoft/powerquery-parser");

async function main() {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString("utf8");
    const task = await PQP.TaskUtils.tryLexParse(PQP.DefaultSettings, text);
    if (PQP.TaskUtils.isOk(task)) {
        console.log(JSON.stringify({ ok: true }));
        return 0;
    }
    const stage = PQP.TaskUtils.isLexStage(task) ? "lex" : "parse";
    console.log(JSON.stringify({ ok: false, stage, message: String(task.error && task.error.message) }));
    return 1;
}

main().then((code) => process.exit(code), (error) => {
    console.log(JSON.stringify({ ok: false, stage: "run", message: String(error) }));
    process.exit(2);
});
