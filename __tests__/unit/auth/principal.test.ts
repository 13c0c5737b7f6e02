import { describe, expect, it } from "vitest";
import { isScopeReduced } from "../../../backend/src/auth/principal.ts";

const guilds = (...guildIds: string[]) => ({ scope: "guild" as const, guildIds });
const admin = { scope: "admin" as const };

describe("isScopeReduced (a scope refresh that closes the session's sockets with 4403)", () => {
  it("is true when a guild is lost, even if another is gained, and when admin becomes guild-scoped", () => {
    expect(isScopeReduced(guilds("1", "2"), guilds("2"))).toBe(true);
    expect(isScopeReduced(guilds("1", "2"), guilds("2", "3"))).toBe(true);
    expect(isScopeReduced(admin, guilds("1"))).toBe(true);
  });

  it("is false when the scope is unchanged or only grew", () => {
    expect(isScopeReduced(guilds("1", "2"), guilds("2", "1"))).toBe(false);
    expect(isScopeReduced(guilds("1"), guilds("1", "2"))).toBe(false);
    expect(isScopeReduced(guilds("1"), admin)).toBe(false);
    expect(isScopeReduced(admin, admin)).toBe(false);
  });
});
