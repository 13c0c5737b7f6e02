#!/usr/bin/env node
// The `spywatcher` bin (package.json): runs the TypeScript CLI through tsx, with the arguments it was given.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tsx = createRequire(import.meta.url).resolve("tsx");
const result = spawnSync(process.execPath, ["--import", tsx, join(here, "spywatcher.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
