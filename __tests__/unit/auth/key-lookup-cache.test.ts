import { describe, expect, it } from "vitest";
import { KeyLookupCache } from "../../../backend/src/auth/key-lookup-cache.ts";
import type { ApiKeyPrincipal } from "../../../backend/src/auth/principal.ts";

const principal: ApiKeyPrincipal = {
  keyId: "6f0c2a9e-4b0d-4a8e-9a57-0d1f3c2b7e11",
  userId: "key:6f0c2a9e-4b0d-4a8e-9a57-0d1f3c2b7e11",
  name: "dash",
  scope: "guild",
  guildIds: ["1180000000000000001"],
};
const HASH = "a".repeat(64);

function cacheAt(start = 1_000_000) {
  let now = start;
  const cache = new KeyLookupCache({ freshMs: 10_000, max: 100, now: () => now });
  return { cache, advance: (ms: number) => void (now += ms) };
}

describe("KeyLookupCache", () => {
  it("a verified key is fresh for freshMs, then only available to stale-if-error within its grace", () => {
    const { cache, advance } = cacheAt();
    cache.rememberActive(HASH, principal, cache.startLookup());
    expect(cache.get(HASH)).toEqual({ state: "active", principal });
    advance(10_000);
    expect(cache.get(HASH)).toEqual({ state: "unknown" });
    expect(cache.lastVerified(HASH, 300_000)?.principal).toEqual(principal);
    expect(cache.lastVerified(HASH, 0)).toBeUndefined();
    advance(300_000);
    expect(cache.lastVerified(HASH, 300_000)).toBeUndefined();
  });

  it("a revocation by id (a broadcast) refuses the key for good and removes it from stale-if-error", () => {
    const { cache, advance } = cacheAt();
    cache.rememberActive(HASH, principal, cache.startLookup());
    cache.revoke(principal.keyId);
    expect(cache.get(HASH)).toEqual({ state: "refused", revoked: true });
    advance(3_600_000);
    expect(cache.get(HASH)).toEqual({ state: "refused", revoked: true });
    expect(cache.lastVerified(HASH, Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });

  it("a lookup that started before a revocation arrived cannot bring the key back", () => {
    const { cache } = cacheAt();
    const started = cache.startLookup();
    cache.revoke(principal.keyId);
    expect(cache.rememberActive(HASH, principal, started)).toBe(false);
    expect(cache.get(HASH)).toEqual({ state: "refused", revoked: true });
  });

  it("expireFresh makes every entry stale, including lookups in flight, but keeps stale-if-error", () => {
    const { cache } = cacheAt();
    cache.rememberActive(HASH, principal, cache.startLookup());
    const inFlight = cache.startLookup();
    cache.expireFresh();
    expect(cache.get(HASH)).toEqual({ state: "unknown" });
    cache.rememberActive(HASH, principal, inFlight);
    expect(cache.get(HASH)).toEqual({ state: "unknown" });
    expect(cache.lastVerified(HASH, 300_000)?.principal).toEqual(principal);
    cache.rememberActive(HASH, principal, cache.startLookup());
    expect(cache.get(HASH)).toEqual({ state: "active", principal });
  });

  it("unknown hashes are refused for freshMs only, and never evict verified keys", () => {
    const { cache, advance } = cacheAt();
    cache.rememberActive(HASH, principal, cache.startLookup());
    for (let i = 0; i < 500; i += 1)
      cache.rememberRefused(i.toString(16).padStart(64, "0"), false, cache.startLookup());
    expect(cache.get(HASH)).toEqual({ state: "active", principal });
    const unknown = "f".repeat(64);
    cache.rememberRefused(unknown, false, cache.startLookup());
    expect(cache.get(unknown)).toEqual({ state: "refused", revoked: false });
    advance(10_000);
    expect(cache.get(unknown)).toEqual({ state: "unknown" });
  });

  it("a flood of unknown hashes never evicts a revoked one: it stays refused for good (401 during an outage)", () => {
    const { cache, advance } = cacheAt();
    const revokedHash = "b".repeat(64);
    cache.rememberRefused(revokedHash, true, cache.startLookup());
    cache.rememberActive(HASH, principal, cache.startLookup());
    cache.revoke(principal.keyId);
    for (let i = 0; i < 1_000; i += 1)
      cache.rememberRefused(i.toString(16).padStart(64, "0"), false, cache.startLookup());
    advance(3_600_000);
    expect(cache.get(revokedHash)).toEqual({ state: "refused", revoked: true });
    expect(cache.get(HASH)).toEqual({ state: "refused", revoked: true });
    expect(cache.lastVerified(HASH, Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });

  it("wasVerified tells keys this process has verified from hashes it never has (or learnt are revoked)", () => {
    const { cache, advance } = cacheAt();
    expect(cache.wasVerified(HASH)).toBe(false);
    cache.rememberActive(HASH, principal, cache.startLookup());
    advance(3_600_000);
    expect(cache.wasVerified(HASH)).toBe(true);
    cache.revoke(principal.keyId);
    expect(cache.wasVerified(HASH)).toBe(false);
  });
});
