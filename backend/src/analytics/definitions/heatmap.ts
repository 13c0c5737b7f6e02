import type { ActivityRepository, HeatmapCellRow } from "../activity-repository.ts";
import { defineAnalytic } from "../analytic-definition.ts";
import { toEnvelope } from "../analytics-page.ts";
import { windowParams } from "../analytics-params.ts";
import type { AnalyticsQuery, HeatmapItem, HeatmapResult } from "../analytics-types.ts";

/** Channel heatmap: per channel, messages and typing by UTC hour of day; the `limit` busiest channels first. */
export const heatmap = defineAnalytic({
  type: "heatmap",
  summary: "where and when people talk: per channel, messages and typing by UTC hour of day, busiest first",
  ttlSeconds: 15 * 60,
  reads: { message: "counts messages per channel and hour", typing: "counts typing per channel and hour" },
  params: windowParams,
  compute: {
    raw: ({ activity }, query) => heatmapFrom(activity, query),
    rollup: ({ rollup }, query) => heatmapFrom(rollup, query),
  },
});

async function heatmapFrom(
  repository: Pick<ActivityRepository, "heatmapCells">,
  query: AnalyticsQuery,
): Promise<HeatmapResult> {
  const page = await repository.heatmapCells(query);
  return toEnvelope("heatmap", query, { ...page, rows: foldCells(page.rows) });
}

/** Folds (channel, hour) cells, already ordered busiest channel first, into one item per channel with 24 slots. */
export function foldCells(cells: HeatmapCellRow[]): HeatmapItem[] {
  const byChannel = new Map<string, HeatmapItem>();
  for (const cell of cells) {
    let item = byChannel.get(cell.channelId);
    if (!item) {
      item = {
        channelId: cell.channelId,
        messageCount: 0,
        typingCount: 0,
        messagesByHour: new Array<number>(24).fill(0),
        typingByHour: new Array<number>(24).fill(0),
      };
      byChannel.set(cell.channelId, item);
    }
    item.messageCount += cell.messageCount;
    item.typingCount += cell.typingCount;
    item.messagesByHour[cell.hour] = cell.messageCount;
    item.typingByHour[cell.hour] = cell.typingCount;
  }
  // Map keeps insertion order, which is the query's busiest-first order.
  return [...byChannel.values()];
}
