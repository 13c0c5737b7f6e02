import { describe, expect, it } from "vitest";
import {
  DAY_MS,
  floorToMinute,
  HOUR_MS,
  MAX_WINDOW_MS,
  parseSince,
  previousWindow,
  splitWindow,
} from "../../../backend/src/analytics/analytics-window.ts";

const now = new Date("2026-03-10T12:34:56.789Z");
const ago = (ms: number) => new Date(now.getTime() - ms);

describe("parseSince", () => {
  it("defaults to 7 days when missing or empty", () => {
    expect(parseSince(undefined, now)).toEqual({ ok: true, since: ago(7 * 86_400_000) });
    expect(parseSince("", now)).toEqual({ ok: true, since: ago(7 * 86_400_000) });
  });

  it("reads minutes, hours and days", () => {
    expect(parseSince("15m", now)).toEqual({ ok: true, since: ago(15 * 60_000) });
    expect(parseSince("24h", now)).toEqual({ ok: true, since: ago(24 * 3_600_000) });
    expect(parseSince("90d", now)).toEqual({ ok: true, since: ago(MAX_WINDOW_MS) });
  });

  it("reads ISO times, with or without zone and time", () => {
    expect(parseSince("2026-03-09T00:00:00Z", now)).toEqual({ ok: true, since: new Date("2026-03-09T00:00:00Z") });
    expect(parseSince("2026-03-09T02:00:00+02:00", now)).toEqual({ ok: true, since: new Date("2026-03-09T00:00:00Z") });
    expect(parseSince("2026-03-09", now)).toEqual({ ok: true, since: new Date("2026-03-09T00:00:00Z") });
  });

  it.each([
    ["91d", "at most 90 days"],
    ["2025-01-01T00:00:00Z", "at most 90 days"],
    ["0m", "longer than zero"],
    ["2026-03-11T00:00:00Z", "in the past"],
    ["2026-02-30T00:00:00Z", "not a valid time"],
    ["7 days", "ISO 8601"],
    ["7w", "ISO 8601"],
    ["1e3d", "ISO 8601"],
    ["yesterday", "ISO 8601"],
  ])("rejects %s (%s)", (input, fragment) => {
    const result = parseSince(input, now);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toContain(fragment);
  });
});

describe("windows", () => {
  it("the window before is equally long and ends where the window starts", () => {
    const window = { since: new Date("2026-03-01T00:00:00Z"), until: new Date("2026-03-08T00:00:00Z") };
    expect(previousWindow(window)).toEqual({
      since: new Date("2026-02-22T00:00:00Z"),
      until: new Date("2026-03-01T00:00:00Z"),
    });
  });

  it("floorToMinute drops seconds and milliseconds", () => {
    expect(floorToMinute(now)).toEqual(new Date("2026-03-10T12:34:00.000Z"));
  });
});

describe("splitWindow", () => {
  const d = (iso: string) => new Date(iso);
  it("cuts partial days off both ends", () => {
    expect(splitWindow({ since: d("2026-03-01T13:37:00Z"), until: d("2026-03-08T05:00:00Z") }, DAY_MS)).toEqual({
      head: { since: d("2026-03-01T13:37:00Z"), until: d("2026-03-02T00:00:00Z") },
      whole: { since: d("2026-03-02T00:00:00Z"), until: d("2026-03-08T00:00:00Z") },
      tail: { since: d("2026-03-08T00:00:00Z"), until: d("2026-03-08T05:00:00Z") },
    });
  });

  it("aligned windows have empty edges", () => {
    const window = { since: d("2026-03-01T00:00:00Z"), until: d("2026-03-03T00:00:00Z") };
    const split = splitWindow(window, DAY_MS);
    expect(split.whole).toEqual(window);
    expect(split.head.since).toEqual(split.head.until);
    expect(split.tail.since).toEqual(split.tail.until);
  });

  it("a window without a whole unit is all head", () => {
    const window = { since: d("2026-03-03T04:05:00Z"), until: d("2026-03-03T04:55:00Z") };
    const split = splitWindow(window, HOUR_MS);
    expect(split.head).toEqual(window);
    expect(split.whole).toEqual({ since: window.until, until: window.until });
    expect(split.tail).toEqual({ since: window.until, until: window.until });
  });
});
