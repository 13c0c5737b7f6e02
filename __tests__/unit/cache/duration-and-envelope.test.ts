import { describe, expect, it } from "vitest";
import {
  decodeEnvelope,
  encodeEnvelope,
  tagsMatch,
  type CacheEnvelope,
} from "../../../backend/src/cache/read/cache-envelope.ts";
import { InvalidDurationError } from "../../../backend/src/cache/cache-errors.ts";
import { parseDuration, TTL_PRESETS } from "../../../backend/src/cache/duration.ts";
import { raceTimeouts } from "../../../backend/src/cache/remember/loader-timeouts.ts";

describe("parseDuration and TTL presets", () => {
  it.each([
    [300, 300_000],
    [1.5, 1_500],
    [0, 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1.5h", 5_400_000],
    ["1d", 86_400_000],
    ["short", 300_000],
  ] as const)("%j is %d ms", (input, ms) => {
    expect(parseDuration(input as never)).toBe(ms);
  });

  it("has the source documents' presets, in seconds", () => {
    expect(TTL_PRESETS).toEqual({ realtime: 60, short: 300, medium: 900, long: 3_600, daily: 86_400 });
  });

  it.each(["", "5", "5 m", "-1s", "1w", "abc"])("refuses %j", (input) => {
    expect(() => parseDuration(input as never)).toThrow(InvalidDurationError);
  });
  it("refuses negative and non-finite numbers", () => {
    expect(() => parseDuration(-1)).toThrow(InvalidDurationError);
    expect(() => parseDuration(Number.NaN)).toThrow(InvalidDurationError);
  });
});

describe("envelope", () => {
  const envelope: CacheEnvelope = {
    value: { rows: ["a".repeat(2000)] },
    createdAt: 1,
    freshUntil: 2,
    graceUntil: 3,
    tags: { "guild:1": 7 },
  };

  it("is plain JSON below the compression threshold", () => {
    const text = encodeEnvelope(envelope, undefined);
    expect(JSON.parse(text)).toEqual(envelope);
    expect(decodeEnvelope(text)).toEqual(envelope);
  });

  it("compresses the value above the threshold, keeping the metadata readable", () => {
    const text = encodeEnvelope(envelope, 1024);
    const stored = JSON.parse(text);
    expect(stored.encoding).toBe("gzip+base64");
    expect(stored.value).toBeUndefined();
    expect(stored.tags).toEqual({ "guild:1": 7 });
    expect(text.length).toBeLessThan(JSON.stringify(envelope).length / 4);
    expect(decodeEnvelope(text)).toEqual(envelope);
  });

  it("treats plain JSON (a counter) as a fresh untagged value and garbage as missing", () => {
    expect(decodeEnvelope("42")).toMatchObject({ value: 42, tags: {}, freshUntil: Infinity });
    expect(decodeEnvelope("{not json")).toBeUndefined();
    expect(decodeEnvelope(null)).toBeUndefined();
    expect(
      decodeEnvelope(JSON.stringify({ ...envelope, value: undefined, encoding: "gzip+base64", data: "%%%" })),
    ).toBeUndefined();
  });

  it("is valid only while every tag version equals the current one", () => {
    expect(
      tagsMatch(
        { a: 1, b: 2 },
        new Map([
          ["a", 1],
          ["b", 2],
        ]),
      ),
    ).toBe(true);
    expect(
      tagsMatch(
        { a: 1, b: 2 },
        new Map([
          ["a", 1],
          ["b", 3],
        ]),
      ),
    ).toBe(false);
    expect(tagsMatch({ a: 1 }, new Map())).toBe(false);
  });
});

describe("raceTimeouts", () => {
  it("settles with the value, the error, or whichever timeout comes first", async () => {
    expect(await raceTimeouts(Promise.resolve(1), 1_000, 2_000)).toEqual({ kind: "value", value: 1 });
    const boom = new Error("x");
    expect(await raceTimeouts(Promise.reject(boom), undefined, 1_000)).toEqual({ kind: "error", error: boom });
    const never = new Promise<never>(() => undefined);
    expect(await raceTimeouts(never, 5, 1_000)).toEqual({ kind: "soft" });
    expect(await raceTimeouts(never, undefined, 5)).toEqual({ kind: "hard" });
  });
});
