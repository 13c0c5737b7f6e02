import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ActivityRetention } from "../../../backend/src/activity/activity-retention.ts";
import { randomSnowflake, testLogger } from "../../support/test-env.ts";
import { startActivityKit, type ActivityKit } from "../../support/activity-support.ts";

const TYPING_TTL_MS = 400;

describe("live state on real Redis", () => {
  let kit: ActivityKit;
  const guildId = randomSnowflake();

  beforeAll(async () => {
    kit = await startActivityKit({ typingTtlMs: TYPING_TTL_MS });
  });
  afterAll(() => kit?.close());

  it("tracks who is online now per platform, and drops members going offline", async () => {
    const presence = (userId: string, status: string, platforms: ("desktop" | "mobile" | "web")[]) =>
      ({ kind: "presence", guildId, userId, status, platforms, createdAt: new Date() }) as const;
    kit.recorder.recordEvents([
      presence("1", "online", ["desktop", "mobile"]),
      presence("2", "idle", ["web"]),
      presence("3", "dnd", ["mobile"]),
    ]);
    await kit.recorder.flush();
    expect((await kit.live.counters(guildId, Date.now())).online).toEqual({ total: 3, desktop: 1, mobile: 2, web: 1 });
    kit.recorder.recordEvents([presence("1", "offline", []), presence("3", "online", ["desktop"])]);
    await kit.recorder.flush();
    expect((await kit.live.counters(guildId, Date.now())).online).toEqual({ total: 2, desktop: 1, mobile: 0, web: 1 });
    expect(await kit.structures.hget(`{${guildId}}:live:online`, "3")).toMatchObject({
      status: "online",
      platforms: ["desktop"],
    });
  });

  it("shows a typer until the typing TTL after their last typing event, then not (the keys expire)", async () => {
    const channelId = "555";
    const typedAt = Date.now();
    kit.recorder.recordEvents([{ kind: "typing", guildId, channelId, userId: "7", startedAt: new Date(typedAt) }]);
    await kit.recorder.flush();
    expect(await kit.live.typing(guildId, Date.now())).toEqual([{ channelId, userIds: ["7"] }]);
    // Exact as of any instant: the reader filters by expiry.
    expect(await kit.live.typing(guildId, typedAt + TYPING_TTL_MS)).toEqual([]);
    // And Redis removes the channel's key by itself: await that instead of sleeping a fixed time.
    const typingKey = kit.structures.key(`{${guildId}}:live:typing:${channelId}`);
    await vi.waitFor(async () => expect(await kit.redis.client.exists(typingKey)).toBe(0), {
      timeout: 5_000,
      interval: 25,
    });
    expect(Date.now()).toBeGreaterThanOrEqual(typedAt + TYPING_TTL_MS);
    expect(await kit.live.typing(guildId, Date.now())).toEqual([]);
  });

  it("keeps the newest joins first, at most 50", async () => {
    const joins = Array.from({ length: 55 }, (_, i) => ({
      kind: "memberJoin" as const,
      guildId,
      userId: String(1000 + i),
      accountCreatedAt: new Date(0),
      accountAgeDays: i,
      joinedAt: new Date(Date.now() + i),
    }));
    kit.recorder.recordEvents(joins);
    await kit.recorder.flush();
    const state = await kit.live.live(guildId, Date.now(), 50);
    expect(state.recentJoins).toHaveLength(50);
    expect(state.recentJoins[0]!.userId).toBe("1054");
  });

  it("counts messages this minute", async () => {
    kit.recorder.recordEvents([
      {
        kind: "message",
        messageId: "1",
        guildId,
        channelId: "1",
        userId: "1",
        contentLength: 3,
        createdAt: new Date(),
      },
    ]);
    await kit.recorder.flush();
    expect((await kit.live.counters(guildId, Date.now())).messagesThisMinute).toBe(1);
  });
});

describe("retention cleanup", () => {
  let kit: ActivityKit;
  const guildId = randomSnowflake();
  const now = Date.now();
  const isoMinute = (ms: number) => new Date(ms).toISOString().slice(0, 16);
  const oldKey = `{${guildId}}:count:messages:minute:${isoMinute(now - 3 * 86_400_000)}`;
  const currentKey = `{${guildId}}:count:messages:minute:${isoMinute(now)}`;
  const daysKey = `{${guildId}}:days:1`;
  const today = Math.floor(now / 86_400_000);

  beforeAll(async () => {
    kit = await startActivityKit();
    // Keys whose expiry was lost: one past its 2-day horizon, one current; and a streak set with a day past 400 days.
    const batch = kit.structures
      .batch()
      .incrby(oldKey, 4)
      .incrby(currentKey, 2)
      .zadd(daysKey, today - 401, String(today - 401))
      .zadd(daysKey, today, String(today));
    await batch.exec();
  });
  afterAll(() => kit?.close());

  it("reports without changing anything in a dry run, then deletes, repairs expiries and trims old days", async () => {
    const retention = new ActivityRetention({ structures: kit.structures, logger: testLogger(), maxKeysPerRun: 1 });
    const dry = await retention.runToEnd({ dryRun: true, nowMs: now });
    expect(dry).toMatchObject({
      dryRun: true,
      scanned: 3,
      deleted: 1,
      expiryRepaired: 1,
      daysTrimmed: 1,
      complete: true,
    });
    expect(await kit.structures.mget([oldKey, currentKey])).toEqual(["4", "2"]);

    const done = await retention.runToEnd({ nowMs: now });
    expect(done).toMatchObject({ dryRun: false, deleted: 1, expiryRepaired: 1, daysTrimmed: 1, complete: true });
    expect(await kit.structures.mget([oldKey, currentKey])).toEqual([null, "2"]);
    expect(await kit.redis.client.pttl(kit.structures.key(currentKey))).toBeGreaterThan(86_400_000);
    expect(await kit.redis.client.zrange(kit.structures.key(daysKey), "0", "-1")).toEqual([String(today)]);
  });

  it("stops a run at its key bound and goes on from there in the next one", async () => {
    const retention = new ActivityRetention({ structures: kit.structures, logger: testLogger(), maxKeysPerRun: 1 });
    const first = await retention.run({ dryRun: true });
    expect(first.scanned).toBeGreaterThanOrEqual(1);
    let runs = 1;
    let report = first;
    while (!report.complete && runs < 10) {
      report = await retention.run({ dryRun: true });
      runs += 1;
    }
    expect(report.complete).toBe(true);
  });
});

describe("retention of minute and hour counters kept in day and month hashes", () => {
  let kit: ActivityKit;
  const guildId = randomSnowflake();
  const nowMs = Date.parse("2028-04-10T06:00:00Z");
  const hashKey = (name: string) => kit.structures.key(`{${guildId}}:${name}`);
  const fields = async (name: string) => (await kit.redis.client.hkeys(hashKey(name))).sort();

  beforeAll(async () => {
    kit = await startActivityKit();
    const at = ["2028-03-01T00:10:00Z", "2028-03-20T00:00:00Z", "2028-04-08T00:00:00Z", "2028-04-08T23:00:00Z"];
    kit.recorder.recordMetrics(
      at.map((iso) => ({ type: "messages", guildId, userId: "1", channelId: "2", timestamp: new Date(iso) })),
      { replay: true },
    );
    await kit.recorder.flush();
  });
  afterAll(() => kit?.close());

  it("deletes hashes past their horizon and removes past-horizon fields from the others (after a dry run that changes nothing)", async () => {
    const retention = new ActivityRetention({ structures: kit.structures, logger: testLogger() });
    // As of 2028-04-10 06:00: minute 04-08T00:00 ended more than 2 days ago, hour 03-01T00 more than 35 days ago.
    const dry = await retention.runToEnd({ dryRun: true, nowMs });
    expect(dry).toMatchObject({ bucketsTrimmed: 2, expiryRepaired: 0, complete: true });
    expect(await fields("hours:messages:2028-03")).toEqual(["01T00", "20T00"]);

    const done = await retention.runToEnd({ nowMs });
    expect(done).toMatchObject({ bucketsTrimmed: 2, deleted: dry.deleted });
    expect(
      await kit.redis.client.exists(hashKey("minutes:messages:2028-03-01"), hashKey("minutes:messages:2028-03-20")),
    ).toBe(0);
    expect(await fields("minutes:messages:2028-04-08")).toEqual(["23:00"]);
    expect(await fields("hours:messages:2028-03")).toEqual(["20T00"]);
    expect(await fields("hours:messages:2028-04")).toEqual(["08T00", "08T23"]);
    // What is left reads as before: the trimmed buckets read 0 either way (past their horizon).
    const timeline = await kit.reader.timeline(guildId, "messages", "hour", Date.parse("2028-03-01T00:00Z"), nowMs);
    expect(timeline.total).toBe(3);
    expect((await retention.runToEnd({ nowMs })).bucketsTrimmed).toBe(0);
  });
});

describe("cache hash / list / set operations", () => {
  let kit: ActivityKit;

  beforeAll(async () => {
    kit = await startActivityKit();
  });
  afterAll(() => kit?.close());

  it("stores JSON values under the namespace, with a TTL on request", async () => {
    const s = kit.cache.structures("livetest");
    expect(await s.hset("h", "a", { n: 1 }, { ttl: "5s" })).toBe(true);
    expect(await s.hget("h", "a")).toEqual({ n: 1 });
    expect(await s.hgetall("h")).toEqual({ a: { n: 1 } });
    expect(await kit.redis.client.pttl(s.key("h"))).toBeGreaterThan(4_000);
    expect(await s.rpush("l", [1, 2])).toBe(2);
    expect(await s.lpush("l", [{ x: 0 }])).toBe(3);
    expect(await s.lrange("l", 0, -1)).toEqual([{ x: 0 }, 1, 2]);
    expect(await s.lpop("l")).toEqual({ x: 0 });
    expect(await s.rpop("l")).toBe(2);
    expect(await s.sadd("s", ["a", "b", "a"])).toBe(2);
    expect(await s.sismember("s", "a")).toBe(true);
    expect(await s.srem("s", ["a"])).toBe(1);
    expect(await s.smembers("s")).toEqual(["b"]);
    expect(await kit.redis.client.get(s.key("missing"))).toBeNull();
    expect(s.key("x").startsWith(`${s.base}`)).toBe(true);
    await s.del(["h", "l", "s"]);
  });

  it("refuses bad keys and namespaces that would collide with cache entries", () => {
    expect(() => kit.cache.structures("livetest").key("a b")).toThrow(/structure keys/);
    expect(() => kit.cache.structures("v1")).toThrow(/namespace/);
    expect(() => kit.cache.structures("_sys")).toThrow(/namespace/);
  });
});
