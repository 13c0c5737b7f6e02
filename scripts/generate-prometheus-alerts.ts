// Writes ops/prometheus-alerts.yml from the alert rules defined in code (npm run alerts:generate).
// `--check` writes nothing and exits 1 when the checked-in file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  PROMETHEUS_ALERTS_PATH,
  renderPrometheusAlertsFile,
} from "../backend/src/monitoring/prometheus-alerts-file.ts";

const file = path.resolve(import.meta.dirname, "..", PROMETHEUS_ALERTS_PATH);
const text = renderPrometheusAlertsFile();
if (process.argv.includes("--check")) {
  const current = readFileSync(file, "utf8");
  if (current !== text) {
    process.stderr.write(`${PROMETHEUS_ALERTS_PATH} is stale: run npm run alerts:generate\n`);
    process.exit(1);
  }
  process.stdout.write(`${PROMETHEUS_ALERTS_PATH} is current\n`);
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${PROMETHEUS_ALERTS_PATH}\n`);
}
