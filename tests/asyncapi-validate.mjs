// Validate an AsyncAPI document with the reference parser (@asyncapi/parser, installed into
// .tools/node_modules by tests/node-packages.sh). Prints every diagnostic; exits 1 when any has
// error severity, 2 when the parser is missing or the file cannot be read.
// Usage: node tests/asyncapi-validate.mjs docs/asyncapi.yaml
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../.tools/package.json", import.meta.url));
let Parser, DiagnosticSeverity;
try {
  ({ Parser, DiagnosticSeverity } = require("@asyncapi/parser"));
} catch (err) {
  console.error(`@asyncapi/parser is not installed in .tools/ (run: bash tests/node-packages.sh): ${err.message}`);
  process.exit(2);
}

const path = process.argv[2];
if (!path) {
  console.error("usage: node tests/asyncapi-validate.mjs FILE");
  process.exit(2);
}
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), { source: path });
const names = ["error", "warning", "information", "hint"];
for (const d of diagnostics) {
  const where = d.path && d.path.length ? d.path.join("/") : "(document)";
  console.log(`${names[d.severity] ?? d.severity}: ${d.code}: ${where}: ${d.message}`);
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (errors.length || !document) {
  console.error(`${path}: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()} (${diagnostics.length} diagnostic(s), no errors)`);
