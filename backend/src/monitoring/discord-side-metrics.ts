import type { Registry } from "prom-client";
import type { DiscordSideStats } from "../composition/discord-side-stats.ts";
import { totalsMetrics } from "./totals-metrics.ts";

/** Where the Discord side's counters are read at scrape time (the running side's `stats()`). */
export type DiscordSideStatsSource = () => DiscordSideStats;

/**
 * Exposes the Discord side's own counters (bot listeners, member fetches, ingestion writer, invalidation service)
 * as Prometheus metrics read from `stats()` at scrape time, so the hot paths keep plain counter increments:
 * - `<prefix>bot_events_total{listener, outcome="handled"|"failed"}`
 * - `<prefix>bot_member_fetches_total{outcome}`, `<prefix>bot_members_fetched_total`
 * - `<prefix>ingest_rows_total{outcome="accepted"|"written"|"dropped"|"rejected"|"abandoned_on_close"}`,
 *   `<prefix>ingest_batches_total{outcome="written"|"failed_attempt"|"retried"|"replayed"}`,
 *   `<prefix>ingest_pruned_markers_total`, gauge `<prefix>ingest_buffered_rows`
 * - `<prefix>invalidation_events_total{effect="invalidating"|"none"}`, `<prefix>invalidation_coalesced_events_total`,
 *   `<prefix>invalidation_invalidations_total`, `<prefix>invalidation_published_total`,
 *   `<prefix>invalidation_errors_total`, gauge `<prefix>invalidation_pending_guilds`
 */
export function registerDiscordSideMetrics(
  registry: Registry,
  read: DiscordSideStatsSource,
  namePrefix = "spywatcher_",
): void {
  const { counter, gauge } = totalsMetrics(registry, namePrefix, read);

  counter(
    "bot_events_total",
    "Discord events handled or failed, by listener",
    ["listener", "outcome"],
    (stats, set) => {
      for (const [listener, counts] of Object.entries(stats.listeners)) {
        set({ listener, outcome: "handled" }, counts.handled);
        set({ listener, outcome: "failed" }, counts.failed);
      }
    },
  );
  counter("bot_member_fetches_total", "Guild member list fetches (op 8), by outcome", ["outcome"], (stats, set) => {
    const { memberFetch: m } = stats;
    set({ outcome: "requested" }, m.requested);
    set({ outcome: "skipped" }, m.skipped);
    set({ outcome: "completed" }, m.completed);
    set({ outcome: "failed" }, m.failed);
    set({ outcome: "rate_limited" }, m.rateLimited);
  });
  counter("bot_members_fetched_total", "Guild members received in member list chunks", [], (stats, set) =>
    set({}, stats.memberFetch.membersFetched),
  );

  counter("ingest_rows_total", "Rows seen by the ingestion writer, by outcome", ["outcome"], (stats, set) => {
    const { ingest: i } = stats;
    set({ outcome: "accepted" }, i.accepted);
    set({ outcome: "written" }, i.written);
    set({ outcome: "dropped" }, i.dropped);
    set({ outcome: "rejected" }, i.rejected);
    set({ outcome: "abandoned_on_close" }, i.abandonedOnClose);
  });
  counter(
    "ingest_batches_total",
    "Insert statements of the ingestion writer, by outcome",
    ["outcome"],
    (stats, set) => {
      const { ingest: i } = stats;
      set({ outcome: "written" }, i.batches);
      set({ outcome: "failed_attempt" }, i.failedAttempts);
      set({ outcome: "retried" }, i.retried);
      set({ outcome: "replayed" }, i.replayedBatches);
    },
  );
  counter("ingest_pruned_markers_total", "Batch markers deleted by pruning", [], (stats, set) =>
    set({}, stats.ingest.prunedMarkers),
  );
  gauge(
    "ingest_buffered_rows",
    "Rows held by the ingestion writer right now (queued plus in flight)",
    (stats) => stats.ingest.buffered,
  );

  counter(
    "invalidation_events_total",
    "Durable events reported to the invalidation service",
    ["effect"],
    (stats, set) => {
      const { invalidation: v } = stats;
      set({ effect: "invalidating" }, v.events - v.eventsWithoutEffect);
      set({ effect: "none" }, v.eventsWithoutEffect);
    },
  );
  counter(
    "invalidation_coalesced_events_total",
    "Events that rode on their guild's already open invalidation window",
    [],
    (stats, set) => set({}, stats.invalidation.coalescedEvents),
  );
  counter(
    "invalidation_invalidations_total",
    "Successful invalidateByTags calls (at most one per guild per window)",
    [],
    (stats, set) => set({}, stats.invalidation.invalidations),
  );
  counter("invalidation_published_total", "Analytics updates published on pub/sub", [], (stats, set) =>
    set({}, stats.invalidation.published),
  );
  counter(
    "invalidation_errors_total",
    "Failed invalidations (retried next window) and failed publishes",
    [],
    (stats, set) => set({}, stats.invalidation.errors),
  );
  gauge(
    "invalidation_pending_guilds",
    "Guilds with an open invalidation window right now",
    (stats) => stats.invalidation.pendingGuilds,
  );
}
