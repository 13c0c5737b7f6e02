import { describe, expect, it } from "vitest";
import {
  DISPLAY_PREFIX_LENGTH,
  generateApiKey,
  hashApiKey,
  hashesEqual,
  looksLikeApiKey,
} from "../../../backend/src/auth/api-key-secret.ts";
import { canAccessGuild } from "../../../backend/src/auth/principal.ts";

describe("API key secrets", () => {
  it("generates sw_ keys with 256 random bits, a SHA-256 hash and a short display prefix", () => {
    const key = generateApiKey();
    expect(key.secret).toMatch(/^sw_[A-Za-z0-9_-]{43}$/);
    expect(key.hash).toBe(hashApiKey(key.secret));
    expect(key.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(key.displayPrefix).toBe(key.secret.slice(0, DISPLAY_PREFIX_LENGTH));
    expect(generateApiKey().secret).not.toBe(key.secret);
  });

  it("recognises only the shape it issues", () => {
    expect(looksLikeApiKey(generateApiKey().secret)).toBe(true);
    expect(looksLikeApiKey("sw_short")).toBe(false);
    expect(looksLikeApiKey(`xx_${"a".repeat(43)}`)).toBe(false);
  });

  it("compares hashes exactly, and unequal lengths as different", () => {
    const hash = hashApiKey("sw_one");
    expect(hashesEqual(hash, hashApiKey("sw_one"))).toBe(true);
    expect(hashesEqual(hash, hashApiKey("sw_two"))).toBe(false);
    expect(hashesEqual(hash, hash.slice(0, 62))).toBe(false);
    expect(hashesEqual("", "")).toBe(false);
  });

  it("admins read every guild; guild keys only theirs", () => {
    expect(canAccessGuild({ keyId: "a", userId: "key:a", name: "a", scope: "admin" }, "1")).toBe(true);
    const scoped = { keyId: "g", userId: "key:g", name: "g", scope: "guild" as const, guildIds: ["1", "2"] };
    expect(canAccessGuild(scoped, "2")).toBe(true);
    expect(canAccessGuild(scoped, "3")).toBe(false);
  });
});
