import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../backend/src/config/config.ts";

const SOURCE = new URL("../../../backend/src/", import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "generated" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

describe("one composition root, one demo switch", () => {
  it("no production module imports the simulation except composition/demo-mode.ts", () => {
    const importers = sourceFiles(SOURCE)
      .map((path) => relative(SOURCE, path))
      .filter((path) => !path.startsWith("simulation/"))
      .filter((path) => /from\s+"[^"]*\/simulation\//.test(readFileSync(join(SOURCE, path), "utf8")));
    expect(importers).toEqual(["composition/demo-mode.ts"]);
  });

  it("config takes no type from the bot and derives AppConfig from its schema", () => {
    const config = readFileSync(join(SOURCE, "config/config.ts"), "utf8");
    expect(config).not.toMatch(/from\s+"\.\.\/bot\//);
    expect(config).not.toMatch(/interface AppConfig/);
    expect(config).toMatch(/export type AppConfig = z\.output<typeof configSchema>/);
  });

  it("the service's defaults are the parts' own defaults (written once)", async () => {
    const { INGESTION_WRITER_DEFAULTS } = await import("../../../backend/src/ingest/ingestion-writer-options.ts");
    const { CACHE_DEFAULTS } = await import("../../../backend/src/cache/cache-defaults.ts");
    const config = loadConfig({});
    expect(config.discord).toMatchObject({
      ingestBatchSize: INGESTION_WRITER_DEFAULTS.batchSize,
      ingestMaxBufferedRows: INGESTION_WRITER_DEFAULTS.maxBufferedRows,
      ingestRetryBaseMs: INGESTION_WRITER_DEFAULTS.retryBaseMs,
    });
    expect(config.cache).toMatchObject({
      defaultTtlMs: CACHE_DEFAULTS.defaultTtlMs,
      graceMs: CACHE_DEFAULTS.graceMs,
      version: CACHE_DEFAULTS.version,
    });
  });
});
