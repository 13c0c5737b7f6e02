import { describe, expect, it } from "vitest";
import { planAdditiveWindow, planTwoWindows } from "../../../backend/src/analytics/rollup-plan.ts";

const d = (iso: string) => new Date(iso);

describe("rollup plans", () => {
  it("whole days from the rollup, short edges raw", () => {
    expect(planAdditiveWindow({ since: d("2026-03-01T20:00:00Z"), until: d("2026-03-04T05:00:00Z") }, true)).toEqual({
      days: [
        { day: "2026-03-02", isNow: true },
        { day: "2026-03-03", isNow: true },
      ],
      raw: [
        { since: d("2026-03-01T20:00:00Z"), until: d("2026-03-02T00:00:00Z"), sign: 1, isNow: true },
        { since: d("2026-03-04T00:00:00Z"), until: d("2026-03-04T05:00:00Z"), sign: 1, isNow: true },
      ],
    });
  });

  it("a long edge is the rollup day minus the raw rest of that day", () => {
    expect(planAdditiveWindow({ since: d("2026-03-01T03:00:00Z"), until: d("2026-03-02T22:00:00Z") }, false)).toEqual({
      days: [
        { day: "2026-03-01", isNow: false },
        { day: "2026-03-02", isNow: false },
      ],
      raw: [
        { since: d("2026-03-01T00:00:00Z"), until: d("2026-03-01T03:00:00Z"), sign: -1, isNow: false },
        { since: d("2026-03-02T22:00:00Z"), until: d("2026-03-03T00:00:00Z"), sign: -1, isNow: false },
      ],
    });
  });

  it("exactly half a day is read raw; a window inside one day never subtracts outside it", () => {
    expect(
      planAdditiveWindow({ since: d("2026-03-01T00:00:00Z"), until: d("2026-03-01T12:00:00Z") }, true).days,
    ).toEqual([]);
    const plan = planAdditiveWindow({ since: d("2026-03-01T01:00:00Z"), until: d("2026-03-01T23:00:00Z") }, true);
    expect(plan.days).toEqual([{ day: "2026-03-01", isNow: true }]);
    expect(plan.raw.map((piece) => [piece.since.toISOString(), piece.until.toISOString(), piece.sign])).toEqual([
      ["2026-03-01T00:00:00.000Z", "2026-03-01T01:00:00.000Z", -1],
      ["2026-03-01T23:00:00.000Z", "2026-03-02T00:00:00.000Z", -1],
    ]);
  });

  it("two windows are labelled: the day split by `since` serves both", () => {
    const plan = planTwoWindows(
      { since: d("2026-03-02T06:00:00Z"), until: d("2026-03-03T06:00:00Z") },
      { since: d("2026-03-01T06:00:00Z"), until: d("2026-03-02T06:00:00Z") },
    );
    // Before: [03-01 06:00, 03-02 00:00) is 18 h -> rollup 03-01 minus its first 6 h; [03-02 00:00, 06:00) raw.
    // Now: [03-02 06:00, 03-03 00:00) -> rollup 03-02 minus its first 6 h; [03-03 00:00, 06:00) raw.
    expect(plan.days).toEqual([
      { day: "2026-03-01", isNow: false },
      { day: "2026-03-02", isNow: true },
    ]);
    expect(plan.raw.filter((piece) => piece.isNow).map((piece) => piece.sign)).toEqual([-1, 1]);
    expect(plan.raw.filter((piece) => !piece.isNow).map((piece) => piece.sign)).toEqual([-1, 1]);
  });
});
