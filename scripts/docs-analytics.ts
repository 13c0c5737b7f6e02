/**
 * Writes the generated tables of docs/analytics.md (analytics, event kinds) from the definitions:
 * `npm run docs:analytics`; with `--check` it writes nothing and exits 1 when the checked-in tables are stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderAnalyticsDocTables, spliceDocTables } from "../backend/src/analytics/analytics-doc-tables.ts";

const file = fileURLToPath(new URL("../docs/analytics.md", import.meta.url));
const current = readFileSync(file, "utf8");
const next = spliceDocTables(current, renderAnalyticsDocTables());
if (process.argv.includes("--check")) {
  if (next !== current) {
    console.error("docs/analytics.md is stale: run `npm run docs:analytics`");
    process.exit(1);
  }
  console.log("docs/analytics.md is current");
} else if (next !== current) {
  writeFileSync(file, next);
  console.log("docs/analytics.md updated");
} else {
  console.log("docs/analytics.md already current");
}
