import calculateSlot from "cluster-key-slot";
import { describe, expect, it } from "vitest";
import { InvalidKeyError } from "../../../../backend/src/cache/cache-errors.ts";
import { KeyBuilder, validatePart } from "../../../../backend/src/cache/keys/key-builder.ts";

describe("KeyBuilder", () => {
  const keys = new KeyBuilder({ prefix: "spywatcher:cache", version: "v1" });

  it("builds <prefix>:<version>:<logical key> and keeps internal keys out of that space", () => {
    expect(keys.entry("analytics:ghosts:123:2026-01-01T00:00:00.000Z")).toBe(
      "spywatcher:cache:v1:analytics:ghosts:123:2026-01-01T00:00:00.000Z",
    );
    expect(keys.tagVersion("guild:1")).toBe("spywatcher:cache:_sys:v1:tag:{guild:1}");
    expect(keys.tagCount("guild:1")).toBe("spywatcher:cache:_sys:v1:tagn:{guild:1}");
    expect(keys.allEntriesPattern()).toBe("spywatcher:cache:v1:*");
    expect(keys.entryPattern("analytics:*:123:*")).toBe("spywatcher:cache:v1:analytics:*:123:*");
    expect(() => keys.entry("_sys:x")).toThrow(InvalidKeyError);
  });

  it.each(["", "a b", "tab\there", "new\nline", "star*", "q?", "[set]", "{hash}", "back\\slash", "\u0007bell"])(
    "refuses the key part %j",
    (part) => {
      expect(() => keys.entry(part)).toThrow(InvalidKeyError);
      expect(() => validatePart(part, "tag")).toThrow(/E_INVALID_KEY|invalid cache key part/);
    },
  );

  it("shortens keys over the maximum with a stable hash suffix, distinct per key", () => {
    const short = new KeyBuilder({ prefix: "p", version: "v1", maxKeyLength: 80 });
    const long1 = `report:${"x".repeat(200)}:1`;
    const long2 = `report:${"x".repeat(200)}:2`;
    const built = short.entry(long1);
    expect(built).toHaveLength(80);
    expect(built.startsWith("p:v1:report:xxx")).toBe(true);
    expect(built).toMatch(/~[0-9a-f]{40}$/);
    expect(short.entry(long1)).toBe(built);
    expect(short.entry(long2)).not.toBe(built);
    expect(short.entry("fits")).toBe("p:v1:fits");
  });

  it("validates prefix and version", () => {
    expect(() => new KeyBuilder({ prefix: "bad prefix", version: "v1" })).toThrow(InvalidKeyError);
    expect(() => new KeyBuilder({ prefix: "ok", version: "_sys" })).toThrow(InvalidKeyError);
    expect(() => new KeyBuilder({ prefix: "ok", version: "v1", maxKeyLength: 10 })).toThrow(InvalidKeyError);
  });

  it("remembers only valid keys: a bad key throws on every call, a good one keeps its full key past the memo's bound", () => {
    const keys = new KeyBuilder({ prefix: "p", version: "v1" });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(() => keys.entry("bad key")).toThrow(InvalidKeyError);
      expect(() => keys.entry("_sys:x")).toThrow(InvalidKeyError);
    }
    const first = keys.entry("analytics:ghosts:1");
    // More distinct keys than the memo holds (10,000): it is emptied, never wrong.
    for (let i = 0; i < 10_050; i += 1) expect(keys.entry(`k:${i}`)).toBe(`p:v1:k:${i}`);
    expect(keys.entry("analytics:ghosts:1")).toBe(first);
    expect(() => keys.entry("bad key")).toThrow(InvalidKeyError);
  });

  it.each(["spywatcher:cache", "t-cfo-0a1b2c3d:cache", "p", "tenant-42:cache", "a:b:c"])(
    "puts the second registry of %j in a slot apart from the first registry's and the bus sequence's",
    (prefix) => {
      const built = new KeyBuilder({ prefix, version: "v1" });
      const [first, second] = built.registries();
      expect(first).toBe(built.instances());
      expect(second).toBe(built.secondInstances());
      expect(second).toMatch(new RegExp(`^${prefix}:_sys:v1:instances2:\\{reg-\\d+\\}$`));
      const slots = [calculateSlot(built.busSequence()), calculateSlot(first), calculateSlot(second)];
      expect(new Set(slots).size).toBe(3);
      // 8,192 slots apart (one more when the sequence key sits there): never on one master while each master serves
      // one contiguous range of at most 8,192 slots, as redis-cli's even split of 2 or more masters does.
      const apart = Math.abs(slots[2]! - slots[1]!);
      expect([8_191, 8_192, 8_193]).toContain(apart);
      const third = (slot: number) => Math.floor(slot / Math.ceil(16_384 / 3));
      expect(third(slots[2]!)).not.toBe(third(slots[1]!));
      // The same key in every process, and for a second builder of the same prefix.
      expect(new KeyBuilder({ prefix, version: "v1" }).secondInstances()).toBe(second);
    },
  );
});
