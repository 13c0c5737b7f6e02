import type { AnalyticsType } from "./analytics-catalog.ts";
import type { AnalyticsEnvelope, AnalyticsQuery } from "./analytics-types.ts";
import type { TimeWindow } from "./analytics-window.ts";

/** Rows of one analytic after `limit`, with how many rows (and flagged rows) there were before it. */
export interface AnalyticsPage<Row> {
  rows: Row[];
  total: number;
  flaggedTotal: number;
}

/** Splits the window-function totals that every analytics query appends to its rows off into a page. */
export function toPage<Row extends { total: number; flaggedTotal?: number }>(
  rows: Row[],
): AnalyticsPage<Omit<Row, "total" | "flaggedTotal">> {
  const first = rows[0];
  return {
    rows: rows.map(({ total: _total, flaggedTotal: _flagged, ...row }) => row),
    total: first?.total ?? 0,
    flaggedTotal: first?.flaggedTotal ?? 0,
  };
}

/** Wraps a page in the stable JSON envelope every analytic answers with. */
export function toEnvelope<T extends AnalyticsType, Item>(
  type: T,
  query: AnalyticsQuery,
  page: AnalyticsPage<Item>,
  previous?: TimeWindow,
): AnalyticsEnvelope<T, Item> {
  return {
    type,
    guildId: query.guildId,
    window: { since: query.since.toISOString(), until: query.until.toISOString() },
    ...(previous
      ? { previousWindow: { since: previous.since.toISOString(), until: previous.until.toISOString() } }
      : {}),
    limit: query.limit,
    total: page.total,
    flaggedTotal: page.flaggedTotal,
    items: page.rows,
  };
}
