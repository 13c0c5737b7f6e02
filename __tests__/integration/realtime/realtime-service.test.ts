import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AppConfig } from "../../../backend/src/config/config.ts";
import { analyticsAffectedBy } from "../../../backend/src/invalidation/invalidation-table.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import {
  startFakeDiscord,
  type FakeDiscord,
} from "../../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import { messageCreateData, typingStartData } from "../../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator } from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { testGuild, type TestGuild } from "../../support/fake-discord-guild.ts";
import { testConfig, testLogger, uniquePrefix } from "../../support/test-env.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

const ADMIN_KEY = `sw_rt_${uniquePrefix("admin-key-realtime-service")}`;
/** Scheduling slack on a loaded 2-core machine on top of ingestion flush + coalescing window. */
const MARGIN_MS = 1_500;
/** Time for the four recomputes that come before the pushes (SQL on a loaded machine). */
const RECOMPUTE_MARGIN_MS = 2_000;

describe("end to end: the real service (startService) with a fake Discord pushes analytics:update over /ws", () => {
  const ids = new SnowflakeGenerator();
  let t: TestGuild;
  let other: TestGuild;
  let fake: FakeDiscord;
  let config: AppConfig;
  let service: RunningService;
  let url: string;

  beforeAll(async () => {
    t = testGuild();
    other = testGuild();
    fake = await startFakeDiscord({ guilds: [t.guild, other.guild] });
    config = testConfig({
      DISCORD_ENABLED: "true",
      DISCORD_TOKEN: "realtime-e2e-token",
      DISCORD_API_URL: fake.apiUrl,
      ADMIN_API_KEY: ADMIN_KEY,
      // No heartbeat during the tests: only the revocation broadcast can close a revoked key's socket.
      WS_HEARTBEAT_INTERVAL_MS: "600000",
    });
    service = await startService(config, testLogger());
    await service.realtime.subscribed;
    url = `ws://127.0.0.1:${service.port}/ws`;
  });
  afterAll(async () => {
    await service?.stop();
    await fake?.close();
  });

  it("a Discord message reaches the guild's socket as analytics:update within the coalescing window, and not another guild's", async () => {
    const socket = await TestSocket.open(url, { key: ADMIN_KEY });
    const otherSocket = await TestSocket.withAuthMessage(url, ADMIN_KEY);
    try {
      await socket.subscribe(t.guild.id);
      await otherSocket.subscribe(other.guild.id);
      const [alice, bob] = t.humans;
      const started = performance.now();
      fake.dispatch("TYPING_START", typingStartData({ channelId: t.channelIds[0], guildId: t.guild.id, user: alice }));
      fake.dispatch(
        "MESSAGE_CREATE",
        messageCreateData({
          id: ids.next(),
          channelId: t.channelIds[0],
          guildId: t.guild.id,
          author: bob,
          content: "hi",
        }),
      );
      const update = await socket.nextUpdate();
      const elapsedMs = performance.now() - started;
      // After the invalidation each affected analytic is recomputed and pushed with its fresh result, one frame each.
      const expected = analyticsAffectedBy(["typing", "message"]);
      const updates = [update];
      while (updates.length < expected.length) updates.push(await socket.nextUpdate());
      expect(updates.map((u) => u.analytic).sort()).toEqual([...expected].sort());
      for (const u of updates) {
        expect(u).toMatchObject({
          type: "analytics:update",
          guildId: t.guild.id,
          types: [u.analytic],
          data: { guildId: t.guild.id },
        });
        expect(Date.parse(u.at)).not.toBeNaN();
      }
      const ghosts = updates.find((u) => u.analytic === "ghosts")!.data as {
        items: { userId: string; typingCount: number }[];
      };
      expect(ghosts.items).toContainEqual(expect.objectContaining({ userId: alice.id, typingCount: 1 }));
      // Trailing-edge coalescing: the first push comes after the window (and its recompute), not before, nor much later.
      const { invalidationCoalesceMs, ingestFlushIntervalMs } = config.discord;
      expect(elapsedMs).toBeGreaterThanOrEqual(invalidationCoalesceMs - 50);
      expect(elapsedMs).toBeLessThan(invalidationCoalesceMs + ingestFlushIntervalMs + MARGIN_MS + RECOMPUTE_MARGIN_MS);
      // Both events of the window came as one invalidation, then one recompute and one update per analytic.
      expect(service.discord?.stats().invalidation).toMatchObject({
        invalidations: 1,
        recomputed: expected.length,
        published: expected.length,
      });
      // The other guild's socket: its updates are its own guild's (pushes of one process leave in order).
      const carol = other.humans[2];
      fake.dispatch(
        "TYPING_START",
        typingStartData({ channelId: other.channelIds[1], guildId: other.guild.id, user: carol }),
      );
      const typingAnalytics = analyticsAffectedBy(["typing"]).length;
      const otherUpdates = [];
      while (otherUpdates.length < typingAnalytics) otherUpdates.push(await otherSocket.nextUpdate());
      for (const u of otherUpdates) expect(u).toMatchObject({ guildId: other.guild.id });
      expect(otherSocket.received.filter((message) => message.type === "analytics:update")).toHaveLength(
        typingAnalytics,
      );
    } finally {
      await Promise.all([socket.close(), otherSocket.close()]);
    }
  });

  it("revoking an API key closes its sockets at once (the revocation broadcast, not the next heartbeat), and no other", async () => {
    const { record, secret } = await service.apiKeys.createKey({ name: "realtime revocation", admin: true });
    const revoked = await TestSocket.open(url, { key: secret });
    const kept = await TestSocket.open(url, { key: ADMIN_KEY });
    try {
      await revoked.subscribe(t.guild.id);
      await kept.subscribe(t.guild.id);
      const started = performance.now();
      await service.apiKeys.revokeKey(record.id);
      const closed = await revoked.closed;
      expect(closed).toEqual({ code: 4401, reason: "the API key was revoked" });
      // The heartbeat (every 600 s here) never ran: this was the broadcast.
      expect(performance.now() - started).toBeLessThan(2_000);
      await vi.waitFor(() => expect(service.realtime.stats().connections).toBe(1));
      expect(await kept.subscribe(other.guild.id)).toMatchObject({ type: "subscribed" });
    } finally {
      await Promise.all([revoked.close(), kept.close()]);
    }
  });

  it("stop closes open sockets with 1001 and resolves", async () => {
    const socket = await TestSocket.open(url, { key: ADMIN_KEY });
    await socket.subscribe(t.guild.id);
    await service.stop();
    expect(await socket.closed).toEqual({ code: 1001, reason: "server shutting down" });
  });
});
