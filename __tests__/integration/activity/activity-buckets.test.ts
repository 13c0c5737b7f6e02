import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActivityMetric } from "../../../backend/src/activity/activity-metrics.ts";
import { randomSnowflake } from "../../support/test-env.ts";
import { startActivityKit, type ActivityKit } from "../../support/activity-support.ts";

// Future dates: bucket keys expire at bucket end + retention, so past dates older than a retention would vanish.
// 2028 is a leap year; 2028-02-28 is a Monday.
const t = (iso: string) => new Date(iso);

describe("activity buckets on real Redis (UTC)", () => {
  let kit: ActivityKit;
  const guildId = randomSnowflake();
  const message = (iso: string, userId = "1", channelId = "9"): ActivityMetric => ({
    type: "messages",
    guildId,
    userId,
    channelId,
    timestamp: t(iso),
  });

  beforeAll(async () => {
    kit = await startActivityKit();
    kit.recorder.recordMetrics(
      [
        "2028-01-31T23:59:59.999Z",
        "2028-02-28T23:59:59.999Z",
        "2028-02-29T00:00:00.000Z",
        "2028-02-29T23:59:59.999Z",
        "2028-03-01T00:00:00.000Z",
        "2028-03-05T23:59:59.999Z",
        "2028-03-06T00:00:00.000Z",
        "2028-04-30T23:59:59.999Z",
        "2028-05-01T00:00:00.000Z",
      ].map((iso) => message(iso)),
    );
    await kit.recorder.flush();
  });
  afterAll(() => kit?.close());

  const counts = async (granularity: "minute" | "hour" | "day" | "week" | "month", since: string, now: string) => {
    const timeline = await kit.reader.timeline(guildId, "messages", granularity, t(since).getTime(), t(now).getTime());
    return timeline.points.map((point) => [point.start, point.count]);
  };

  it("splits minutes and hours exactly at the boundary", async () => {
    expect(await counts("minute", "2028-02-28T23:58:30Z", "2028-02-29T00:01:00Z")).toEqual([
      ["2028-02-28T23:58:00.000Z", 0],
      ["2028-02-28T23:59:00.000Z", 1],
      ["2028-02-29T00:00:00.000Z", 1],
      ["2028-02-29T00:01:00.000Z", 0],
    ]);
    expect(await counts("hour", "2028-02-28T23:00Z", "2028-02-29T01:00Z")).toEqual([
      ["2028-02-28T23:00:00.000Z", 1],
      ["2028-02-29T00:00:00.000Z", 1],
      ["2028-02-29T01:00:00.000Z", 0],
    ]);
  });

  it("counts the leap day as its own day and fills empty days with zeros", async () => {
    expect(await counts("day", "2028-02-27T12:00Z", "2028-03-02T00:00Z")).toEqual([
      ["2028-02-27T00:00:00.000Z", 0],
      ["2028-02-28T00:00:00.000Z", 1],
      ["2028-02-29T00:00:00.000Z", 2],
      ["2028-03-01T00:00:00.000Z", 1],
      ["2028-03-02T00:00:00.000Z", 0],
    ]);
  });

  it("starts weeks on Monday 00:00 UTC", async () => {
    expect(await counts("week", "2028-02-28T00:00Z", "2028-03-06T00:00Z")).toEqual([
      ["2028-02-28T00:00:00.000Z", 5],
      ["2028-03-06T00:00:00.000Z", 1],
    ]);
  });

  it("gives months their real lengths (31, 29 in a leap year, 31, 30)", async () => {
    expect(await counts("month", "2028-01-10T00:00Z", "2028-05-20T00:00Z")).toEqual([
      ["2028-01-01T00:00:00.000Z", 1],
      ["2028-02-01T00:00:00.000Z", 3],
      ["2028-03-01T00:00:00.000Z", 3],
      ["2028-04-01T00:00:00.000Z", 1],
      ["2028-05-01T00:00:00.000Z", 1],
    ]);
  });

  it("keeps minutes in one hash per UTC day and hours in one hash per UTC month, fields named by the bucket", async () => {
    const hash = (key: string) => kit.redis.client.hgetall(kit.structures.key(`{${guildId}}:${key}`));
    expect(await hash("minutes:messages:2028-02-29")).toEqual({ "00:00": "1", "23:59": "1" });
    expect(await hash("minutes:messages:2028-02-28")).toEqual({ "23:59": "1" });
    expect(await hash("hours:messages:2028-02")).toEqual({ "28T23": "1", "29T00": "1", "29T23": "1" });
    expect(await hash("hours:messages:2028-03")).toEqual({ "01T00": "1", "05T23": "1", "06T00": "1" });
  });

  it("sets each counter's TTL to its bucket end (minute and hour: the end of the day or month hash) plus the granularity's retention", async () => {
    const ttlOf = (key: string) => kit.structures.call("pttl", (c) => c.pexpiretime(kit.structures.key(key)));
    expect(await ttlOf(`{${guildId}}:minutes:messages:2028-02-29`)).toBe(
      Date.parse("2028-03-01T00:00:00Z") + 2 * 86_400_000,
    );
    expect(await ttlOf(`{${guildId}}:hours:messages:2028-02`)).toBe(
      Date.parse("2028-03-01T00:00:00Z") + 35 * 86_400_000,
    );
    expect(await ttlOf(`{${guildId}}:count:messages:day:2028-02-29`)).toBe(
      Date.parse("2028-03-01T00:00:00Z") + 400 * 86_400_000,
    );
    expect(await ttlOf(`{${guildId}}:count:messages:week:2028-02-28w`)).toBe(
      Date.parse("2028-03-06T00:00:00Z") + 730 * 86_400_000,
    );
    expect(await ttlOf(`{${guildId}}:count:messages:month:2028-02`)).toBe(
      Date.parse("2028-03-01T00:00:00Z") + 1_826 * 86_400_000,
    );
  });

  it("splits hours at the end of a month's hash (Feb 29 23:00 and Mar 1 00:00 live in two hashes)", async () => {
    expect(await counts("hour", "2028-02-29T22:00Z", "2028-03-01T01:00Z")).toEqual([
      ["2028-02-29T22:00:00.000Z", 0],
      ["2028-02-29T23:00:00.000Z", 1],
      ["2028-03-01T00:00:00.000Z", 1],
      ["2028-03-01T01:00:00.000Z", 0],
    ]);
  });

  it("reads an hour past its 35-day retention as 0 though its month's hash still holds it", async () => {
    // As of 2028-04-06 01:00, hour 2028-03-01T00 ended 35 days ago; 2028-03-05T23 has not.
    const timeline = await kit.reader.timeline(
      guildId,
      "messages",
      "hour",
      t("2028-03-01T00:00Z").getTime(),
      t("2028-04-06T01:00Z").getTime(),
    );
    const count = (iso: string) => timeline.points.find((point) => point.start === iso)?.count;
    expect(count("2028-03-01T00:00:00.000Z")).toBe(0);
    expect(count("2028-03-05T23:00:00.000Z")).toBe(1);
    expect(timeline.total).toBe(2);
    expect(await kit.redis.client.hget(kit.structures.key(`{${guildId}}:hours:messages:2028-03`), "01T00")).toBe("1");
  });

  it("refuses a timeline of more than 1,500 buckets", async () => {
    await expect(
      kit.reader.timeline(
        guildId,
        "messages",
        "minute",
        t("2028-02-01T00:00Z").getTime(),
        t("2028-02-03T00:00Z").getTime(),
      ),
    ).rejects.toThrow(RangeError);
  });
});

describe("leaderboards with ties", () => {
  let kit: ActivityKit;
  const guildId = randomSnowflake();

  beforeAll(async () => {
    kit = await startActivityKit();
    const at = "2028-06-15T12:00:00Z";
    const scores: Record<string, number> = { "200": 3, "1000": 3, "5": 5, "77": 1, "300": 3 };
    for (const [userId, count] of Object.entries(scores)) {
      for (let i = 0; i < count; i += 1)
        kit.recorder.recordMetric({ type: "messages", guildId, userId, channelId: "42", timestamp: t(at) });
    }
    await kit.recorder.flush();
  });
  afterAll(() => kit?.close());

  it("ranks by score, shares ranks on ties (1, 2, 2, 2, 5) and lists ties by id in byte order", async () => {
    const board = await kit.reader.leaderboard(guildId, "users", "day", t("2028-06-15T20:00Z").getTime(), 10);
    expect(board.top).toEqual([
      { rank: 1, id: "5", score: 5 },
      { rank: 2, id: "1000", score: 3 },
      { rank: 2, id: "200", score: 3 },
      { rank: 2, id: "300", score: 3 },
      { rank: 5, id: "77", score: 1 },
    ]);
    expect(board.members).toBe(5);
    expect(board.label).toBe("2028-06-15");
  });

  it("cuts a tie group at the limit deterministically (the same members every time)", async () => {
    for (let i = 0; i < 3; i += 1) {
      const board = await kit.reader.leaderboard(guildId, "users", "week", t("2028-06-15T20:00Z").getTime(), 3);
      expect(board.top.map((entry) => entry.id)).toEqual(["5", "1000", "200"]);
    }
  });

  it("gives a member's rank and score, and null rank for a member without a score", async () => {
    const board = await kit.reader.leaderboard(guildId, "users", "month", t("2028-06-01T00:00Z").getTime(), 1, "300");
    expect(board.member).toEqual({ id: "300", rank: 2, score: 3 });
    const none = await kit.reader.leaderboard(guildId, "users", "month", t("2028-06-01T00:00Z").getTime(), 1, "999");
    expect(none.member).toEqual({ id: "999", rank: null, score: 0 });
  });

  it("ranks channels by messages", async () => {
    const board = await kit.reader.leaderboard(guildId, "channels", "day", t("2028-06-15T00:00Z").getTime(), 10);
    expect(board.top).toEqual([{ rank: 1, id: "42", score: 15 }]);
  });
});

describe("streaks across midnight UTC", () => {
  let kit: ActivityKit;
  const guildId = randomSnowflake();
  const typing = (userId: string, iso: string): ActivityMetric => ({
    type: "typing",
    guildId,
    userId,
    channelId: "1",
    timestamp: t(iso),
  });

  beforeAll(async () => {
    kit = await startActivityKit();
    kit.recorder.recordMetrics([
      // User 1: 23:59:59.999 then 00:00:00.000 are two days; then a gap of one day breaks the run.
      typing("1", "2028-03-01T23:59:59.999Z"),
      typing("1", "2028-03-02T00:00:00.000Z"),
      typing("1", "2028-03-03T10:00:00.000Z"),
      typing("1", "2028-03-05T08:00:00.000Z"),
      typing("1", "2028-03-06T08:00:00.000Z"),
    ]);
    // Deletions and presence do not make a day active.
    kit.recorder.recordMetric({ type: "presence", guildId, userId: "1", timestamp: t("2028-03-04T12:00:00Z") });
    kit.recorder.recordMetric({
      type: "deletes",
      guildId,
      userId: "1",
      channelId: "1",
      timestamp: t("2028-03-04T12:00:00Z"),
    });
    await kit.recorder.flush();
  });
  afterAll(() => kit?.close());

  it("counts the longest run and the current one", async () => {
    const streaks = await kit.reader.streaks(guildId, "1", t("2028-03-06T23:59:59.999Z").getTime());
    expect(streaks).toMatchObject({
      current: 2,
      longest: 3,
      longestStartedOn: "2028-03-01",
      lastActiveOn: "2028-03-06",
      activeDays: 5,
    });
  });

  it("keeps the current streak through the next day until it ends, then breaks it at midnight UTC", async () => {
    expect((await kit.reader.streaks(guildId, "1", t("2028-03-07T23:59:59.999Z").getTime())).current).toBe(2);
    expect((await kit.reader.streaks(guildId, "1", t("2028-03-08T00:00:00.000Z").getTime())).current).toBe(0);
  });

  it("gives zeros for a user never seen", async () => {
    expect(await kit.reader.streaks(guildId, "2", Date.now())).toMatchObject({
      current: 0,
      longest: 0,
      lastActiveOn: null,
    });
  });
});
