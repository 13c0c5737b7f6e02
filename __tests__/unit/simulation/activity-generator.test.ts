import { describe, expect, it } from "vitest";
import { ActivityGenerator } from "../../../backend/src/simulation/activity-generator.ts";
import {
  SnowflakeGenerator,
  snowflakeAt,
  snowflakeTime,
} from "../../../backend/src/simulation/fake-discord/snowflake.ts";
import { buildSimulatedGuild } from "../../../backend/src/simulation/simulated-guild.ts";

/** A small deterministic PRNG (mulberry32) so the run is reproducible. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe("the simulated guild's activity", () => {
  const simulated = buildSimulatedGuild(1);
  const personaOf = new Map(simulated.users.map((user) => [user.user.id, user.persona]));
  const generator = new ActivityGenerator(simulated, seeded(42));
  const events = Array.from({ length: 10_000 }, () => generator.next());
  const byType = (type: string) => events.filter((event) => event.type === type);

  it("produces every event type the bot records", () => {
    for (const type of [
      "MESSAGE_CREATE",
      "TYPING_START",
      "PRESENCE_UPDATE",
      "GUILD_MEMBER_UPDATE",
      "GUILD_MEMBER_ADD",
      "MESSAGE_DELETE",
    ]) {
      expect(byType(type).length, type).toBeGreaterThan(50);
    }
  });

  it("ghosts type at least ten times as often as they post; lurkers never post or type", () => {
    const authorOf = (event: { data: Record<string, unknown> }) =>
      (event.data.author as { id: string } | undefined)?.id ?? (event.data.user_id as string);
    const count = (type: string, persona: string) =>
      byType(type).filter((event) => personaOf.get(authorOf(event)) === persona).length;
    expect(count("TYPING_START", "ghost")).toBeGreaterThan(10 * count("MESSAGE_CREATE", "ghost"));
    expect(count("MESSAGE_CREATE", "lurker") + count("TYPING_START", "lurker")).toBe(0);
    const lurkerPresence = byType("PRESENCE_UPDATE").filter(
      (event) => personaOf.get((event.data.user as { id: string }).id) === "lurker",
    );
    expect(lurkerPresence.length).toBeGreaterThan(100);
  });

  it("moves users across all three platforms", () => {
    const platforms = new Set(
      byType("PRESENCE_UPDATE").flatMap((event) => Object.keys(event.data.client_status as object)),
    );
    expect([...platforms].sort()).toEqual(["desktop", "mobile", "web"]);
  });

  it("deletes only messages it created, and message ids are unique and increasing", () => {
    const created = byType("MESSAGE_CREATE").map((event) => event.data.id as string);
    expect(new Set(created).size).toBe(created.length);
    for (let i = 1; i < created.length; i += 1) expect(BigInt(created[i]!) > BigInt(created[i - 1]!)).toBe(true);
    const known = new Set(created);
    for (const event of byType("MESSAGE_DELETE")) expect(known.has(event.data.id as string)).toBe(true);
  });

  it("keeps the guild's member list in step with the updates it sends, and bounded", () => {
    for (const event of byType("GUILD_MEMBER_UPDATE")) {
      expect((event.data.roles as string[]).every((role) => simulated.grantableRoleIds.includes(role))).toBe(true);
    }
    expect(simulated.guild.members.length).toBeLessThanOrEqual(200);
    const last = byType("GUILD_MEMBER_UPDATE").at(-1)!;
    const member = simulated.guild.members.find(
      (candidate) => candidate.user.id === (last.data.user as { id: string }).id,
    )!;
    expect(member.roles).toEqual(last.data.roles);
  });
});

describe("snowflakes", () => {
  it("encode their time and stay unique and increasing within one millisecond", () => {
    const at = Date.UTC(2026, 10, 22, 10);
    expect(snowflakeTime(snowflakeAt(at, 17)).getTime()).toBe(at);
    const ids = new SnowflakeGenerator();
    const burst = Array.from({ length: 5_000 }, () => ids.next(at));
    expect(new Set(burst).size).toBe(5_000);
    for (let i = 1; i < burst.length; i += 1) expect(BigInt(burst[i]!) > BigInt(burst[i - 1]!)).toBe(true);
  });
});
