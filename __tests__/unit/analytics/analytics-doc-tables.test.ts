import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ANALYTICS_TYPES } from "../../../backend/src/analytics/analytics-catalog.ts";
import {
  DOC_TABLE_MARKERS,
  renderAnalyticsDocTables,
  spliceDocTables,
} from "../../../backend/src/analytics/analytics-doc-tables.ts";
import { INGEST_EVENT_KINDS } from "../../../backend/src/ingest/event-kinds/index.ts";

const doc = () => readFileSync(new URL("../../../docs/analytics.md", import.meta.url), "utf8");

describe("docs/analytics.md's generated tables", () => {
  it("are current: `npm run docs:analytics` rewrites them from the definitions", () => {
    const current = doc();
    expect(
      spliceDocTables(current, renderAnalyticsDocTables()),
      "docs/analytics.md is stale: run `npm run docs:analytics`",
    ).toBe(current);
  });

  it("hold one row per analytic and one per event kind", () => {
    const tables = renderAnalyticsDocTables();
    for (const type of ANALYTICS_TYPES) expect(tables).toMatch(new RegExp(`^\\| \`${type}\` \\|`, "m"));
    for (const kind of INGEST_EVENT_KINDS) expect(tables).toMatch(new RegExp(`^\\| \`${kind}\` \\|`, "m"));
  });

  it("a stale table is detected, and missing markers are an error", () => {
    const stale = doc().replace(/\| 5 min \|/, "| 6 min |");
    expect(spliceDocTables(stale, renderAnalyticsDocTables())).not.toBe(stale);
    expect(() => spliceDocTables("no markers here", renderAnalyticsDocTables())).toThrow(DOC_TABLE_MARKERS.start);
  });
});
