import { describe, expect, it } from "vitest";
import { BatchMarkerPruner } from "../../../backend/src/ingest/batch-marker-pruner.ts";
import type { IngestRepository } from "../../../backend/src/ingest/ingest-repository.ts";
import { capturingLogger } from "../../support/capturing-logger.ts";

const HOUR = 3_600_000;

/** A repository that only records prune requests (the SQL itself is tested against PostgreSQL). */
function recordingRepository(failures = 0) {
  const prunes: number[] = [];
  let failuresLeft = failures;
  const repository: IngestRepository = {
    insertBatch: () => Promise.reject(new Error("not used by the pruner")),
    pruneBatchMarkers: async (olderThanMs) => {
      prunes.push(olderThanMs);
      if (failuresLeft-- > 0) throw new Error("injected: database unavailable");
      return 3;
    },
  };
  return { repository, prunes };
}

describe("BatchMarkerPruner", () => {
  it("prunes at the first write, then at most once per interval, with the retention as the cut-off", async () => {
    let now = 1_000_000;
    const { repository, prunes } = recordingRepository();
    const pruner = new BatchMarkerPruner({
      repository,
      logger: capturingLogger().logger,
      retentionMs: 24 * HOUR,
      intervalMs: 60_000,
      now: () => now,
    });
    pruner.maybePrune();
    await pruner.idle();
    now += 59_999;
    pruner.maybePrune();
    await pruner.idle();
    expect(prunes).toEqual([24 * HOUR]);
    now += 1;
    pruner.maybePrune();
    await pruner.idle();
    expect(prunes).toEqual([24 * HOUR, 24 * HOUR]);
    expect(pruner.prunedMarkers()).toBe(6);
  });

  it("never prunes the marker of a batch it still holds, however long an outage keeps it retrying", () => {
    let now = 0;
    const pruner = new BatchMarkerPruner({
      repository: recordingRepository().repository,
      logger: capturingLogger().logger,
      retentionMs: 24 * HOUR,
      now: () => now,
    });
    pruner.formed("a");
    now = 30 * HOUR;
    pruner.formed("b");
    // Batch "a" has been retried for 30 h: markers younger than its age (plus a clock-skew minute) are kept.
    expect(pruner.olderThanMs()).toBe(30 * HOUR + 60_000);
    pruner.settled("a");
    expect(pruner.olderThanMs()).toBe(24 * HOUR);
  });

  it("logs a failed prune instead of failing the write, and tries again after the interval", async () => {
    let now = 0;
    const { repository, prunes } = recordingRepository(1);
    const { logger, lines } = capturingLogger();
    const pruner = new BatchMarkerPruner({ repository, logger, intervalMs: 1_000, now: () => now });
    pruner.maybePrune();
    await pruner.idle();
    expect(lines.some((line) => line.msg === "ingestion: pruning batch markers failed; retrying next interval")).toBe(
      true,
    );
    now = 1_000;
    pruner.maybePrune();
    await pruner.idle();
    expect(prunes).toHaveLength(2);
    expect(pruner.prunedMarkers()).toBe(3);
  });

  it("runs one prune at a time", async () => {
    let now = 0;
    let release: () => void = () => undefined;
    const prunes: number[] = [];
    const repository: IngestRepository = {
      insertBatch: () => Promise.reject(new Error("not used")),
      pruneBatchMarkers: (olderThanMs) => {
        prunes.push(olderThanMs);
        return new Promise<number>((resolve) => (release = () => resolve(0)));
      },
    };
    const pruner = new BatchMarkerPruner({
      repository,
      logger: capturingLogger().logger,
      intervalMs: 10,
      now: () => now,
    });
    pruner.maybePrune();
    now = 1_000;
    pruner.maybePrune();
    expect(prunes).toHaveLength(1);
    release();
    await pruner.idle();
  });
});
