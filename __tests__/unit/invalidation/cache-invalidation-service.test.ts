import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ANALYTICS_TYPES, guildAnalyticsTag } from "../../../backend/src/analytics/analytics-catalog.ts";
import {
  CacheInvalidationService,
  type TagInvalidator,
} from "../../../backend/src/invalidation/cache-invalidation-service.ts";
import { ANALYTICS_AFFECTED_BY, analyticsAffectedBy } from "../../../backend/src/invalidation/invalidation-table.ts";
import type { Publisher } from "../../../backend/src/pubsub/pubsub.ts";
import { randomSnowflake, testLogger } from "../../support/test-env.ts";

/** Records every invalidateByTags call; can be told to fail the next N calls. */
class RecordingInvalidator implements TagInvalidator {
  readonly calls: string[][] = [];
  failNext = 0;
  async invalidateByTags(tags: string[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("cache down");
    }
    this.calls.push(tags);
  }
}

class RecordingPublisher implements Publisher {
  readonly messages: { channel: string; message: unknown }[] = [];
  async publish(channel: string, message: unknown): Promise<number> {
    this.messages.push({ channel, message });
    return 1;
  }
}

describe("invalidation table", () => {
  it("maps each stored event kind to the analytics that read it", () => {
    expect(ANALYTICS_AFFECTED_BY).toEqual({
      message: ["ghosts", "lurkers", "heatmap", "shifts", "deletions"],
      typing: ["ghosts", "lurkers", "heatmap", "shifts"],
      presence: ["lurkers", "clients"],
      roleChange: ["roles"],
      messageDelete: ["deletions"],
      memberJoin: [],
    });
  });

  it("unions kinds in catalog order without duplicates", () => {
    expect(analyticsAffectedBy(["presence", "message"])).toEqual([
      "ghosts",
      "lurkers",
      "heatmap",
      "clients",
      "shifts",
      "deletions",
    ]);
    expect(analyticsAffectedBy(["memberJoin", "messageDelete"])).toEqual(["deletions"]);
    expect(analyticsAffectedBy(["memberJoin"])).toEqual([]);
  });
});

describe("CacheInvalidationService coalescing (fake clock)", () => {
  let cache: RecordingInvalidator;
  let publisher: RecordingPublisher;
  let service: CacheInvalidationService;

  beforeEach(() => {
    vi.useFakeTimers({ now: new Date("2026-11-22T10:00:00Z") });
    cache = new RecordingInvalidator();
    publisher = new RecordingPublisher();
    service = new CacheInvalidationService({
      cache,
      publisher,
      channel: "t:analytics:update",
      logger: testLogger(),
      coalesceMs: 1_000,
    });
  });
  afterEach(async () => {
    await service.close();
    vi.useRealTimers();
  });

  it("makes one invalidation per guild per window, with the union of affected analytics, then publishes", async () => {
    const guild = randomSnowflake();
    service.notify(guild, ["message"], 500);
    await vi.advanceTimersByTimeAsync(400);
    service.notify(guild, ["presence"], 3);
    service.notify(guild, ["typing"]);
    await vi.advanceTimersByTimeAsync(599);
    expect(cache.calls).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    // The union of the three kinds' analytics (the table itself is pinned above), in catalog order.
    const union = analyticsAffectedBy(["message", "presence", "typing"]);
    expect(cache.calls).toEqual([union.map((type) => guildAnalyticsTag(type, guild))]);
    expect(publisher.messages).toEqual([
      { channel: "t:analytics:update", message: { guildId: guild, types: union, at: "2026-11-22T10:00:01.000Z" } },
    ]);
    expect(service.stats()).toMatchObject({
      events: 504,
      invalidations: 1,
      coalescedEvents: 503,
      published: 1,
      pendingGuilds: 0,
    });
  });

  it("keeps guilds apart: each guild's window invalidates only that guild's tags", async () => {
    const busy = randomSnowflake();
    const quiet = randomSnowflake();
    service.notify(busy, ["message"]);
    await vi.advanceTimersByTimeAsync(500);
    service.notify(quiet, ["roleChange"]);
    await vi.advanceTimersByTimeAsync(500);
    expect(cache.calls).toEqual([analyticsAffectedBy(["message"]).map((type) => guildAnalyticsTag(type, busy))]);
    await vi.advanceTimersByTimeAsync(500);
    expect(cache.calls[1]).toEqual([guildAnalyticsTag("roles", quiet)]);
    for (const tags of cache.calls)
      for (const tag of tags) expect(tag.endsWith(`:guild:${tags === cache.calls[0] ? busy : quiet}`)).toBe(true);
  });

  it("a steady stream causes one invalidation per elapsed window, not one per event", async () => {
    const guild = randomSnowflake();
    for (let ms = 0; ms < 10_000; ms += 10) {
      service.notify(guild, ["message"]);
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(cache.calls.length).toBeGreaterThanOrEqual(9);
    expect(cache.calls.length).toBeLessThanOrEqual(10);
    expect(service.stats().coalescedEvents).toBe(1_000 - cache.calls.length);
  });

  it("ignores events no analytic reads", async () => {
    service.notify(randomSnowflake(), ["memberJoin"], 7);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(cache.calls).toEqual([]);
    expect(service.stats()).toMatchObject({ events: 7, eventsWithoutEffect: 7, invalidations: 0 });
  });

  it("retries a failed invalidation in the next window and does not publish the failed one", async () => {
    const guild = randomSnowflake();
    cache.failNext = 1;
    service.notify(guild, ["roleChange"]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cache.calls).toEqual([]);
    expect(publisher.messages).toEqual([]);
    expect(service.stats()).toMatchObject({ errors: 1, pendingGuilds: 1 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cache.calls).toEqual([[guildAnalyticsTag("roles", guild)]]);
    expect(publisher.messages).toHaveLength(1);
  });

  it("close() ends open windows at once", async () => {
    const guild = randomSnowflake();
    service.notify(guild, ["presence"]);
    await service.close();
    expect(cache.calls).toEqual([[guildAnalyticsTag("lurkers", guild), guildAnalyticsTag("clients", guild)]]);
    // After close, a late event is invalidated immediately rather than left in a window nobody ends.
    service.notify(guild, ["typing"]);
    await service.flush();
    expect(cache.calls).toHaveLength(2);
  });

  it("never names a tag outside the per-guild analytics tags", async () => {
    const guild = randomSnowflake();
    service.notify(guild, ["message", "typing", "presence", "roleChange"]);
    await service.flush();
    expect(cache.calls[0]).toEqual(ANALYTICS_TYPES.map((type) => guildAnalyticsTag(type, guild)));
  });
});
