#!/usr/bin/env node
// The production build (npm run build): backend/src, the generated Prisma client included, compiled to JavaScript by
// tsc (tsconfig.build.json) into dist/, plus the SQL migrations the migrator reads at start-up (dist/prisma/migrations).
// Then: node dist/backend/src/main.js (npm run start:prod). `--out-dir <dir>` builds elsewhere (the build test does).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const flag = process.argv.indexOf("--out-dir");
const outDir = path.resolve(root, flag >= 0 ? process.argv[flag + 1] : "dist");

if (!existsSync(path.join(root, "backend/src/generated/prisma/client.ts"))) {
  process.stderr.write(
    "build: the Prisma client is not generated (backend/src/generated/prisma): run npm run prisma:generate\n",
  );
  process.exit(1);
}
rmSync(outDir, { recursive: true, force: true });
// typescript's package.json does not export its bin: locate the package, then the bin it declares.
const typescriptDir = path.dirname(createRequire(import.meta.url).resolve("typescript/package.json"));
const tsc = path.join(typescriptDir, "bin/tsc");
const compiled = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json"), "--outDir", outDir], {
  stdio: "inherit",
  cwd: root,
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
cpSync(path.join(root, "prisma/migrations"), path.join(outDir, "prisma/migrations"), { recursive: true });
process.stdout.write(
  `build: wrote ${path.relative(root, outDir) || "."} (node ${path.relative(root, path.join(outDir, "backend/src/main.js"))})\n`,
);
