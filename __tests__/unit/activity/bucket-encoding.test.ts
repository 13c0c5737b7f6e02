import { describe, expect, it } from "vitest";
import { counterSlot, fieldOf, fieldStart, isFieldOf } from "../../../backend/src/activity/counter-slots.ts";
import { bucketStarts, isoStrings } from "../../../backend/src/activity/time-buckets.ts";

const t = (iso: string) => Date.parse(iso);

describe("timeline ISO strings", () => {
  it("equal toISOString for minutes and hours across days, month ends and a leap day, and for other instants", () => {
    const starts = [
      ...bucketStarts("minute", t("2028-02-28T23:30Z"), t("2028-02-29T00:30Z")),
      ...bucketStarts("hour", t("2028-02-27T00:00Z"), t("2028-03-02T05:00Z")),
      ...bucketStarts("day", t("2027-12-25T00:00Z"), t("2028-01-05T00:00Z")),
      t("1969-12-31T23:59Z"),
      t("2028-02-29T12:00:00.500Z"),
    ];
    expect(isoStrings(starts)).toEqual(starts.map((ms) => new Date(ms).toISOString()));
  });
});

describe("counter slots: minutes in a hash per UTC day, hours in a hash per UTC month", () => {
  it("names the hash and field of a bucket, and reads the field back to the same bucket", () => {
    expect(counterSlot("1", "messages", "minute", t("2028-02-29T23:59Z"))).toMatchObject({
      key: "{1}:minutes:messages:2028-02-29",
      field: "23:59",
    });
    expect(counterSlot("1", "messages", "hour", t("2028-02-29T23:00Z"))).toMatchObject({
      key: "{1}:hours:messages:2028-02",
      field: "29T23",
    });
    expect(counterSlot("1", "messages", "day", t("2028-02-29T00:00Z"))).toMatchObject({
      key: "{1}:count:messages:day:2028-02-29",
      field: undefined,
    });
    for (const start of bucketStarts("hour", t("2028-02-01T00:00Z"), t("2028-02-29T23:00Z"))) {
      expect(fieldStart("hour", t("2028-02-01T00:00Z"), fieldOf("hour", start))).toBe(start);
    }
    expect(fieldStart("minute", t("2028-02-29T00:00Z"), "23:59")).toBe(t("2028-02-29T23:59Z"));
  });

  it("refuses fields that name no bucket of the container (Feb 30, hour 24, minute 60, wrong shape)", () => {
    expect(fieldStart("hour", t("2028-02-01T00:00Z"), "30T00")).toBeUndefined();
    expect(fieldStart("hour", t("2027-02-01T00:00Z"), "29T00")).toBeUndefined();
    expect(fieldStart("hour", t("2028-02-01T00:00Z"), "01T24")).toBeUndefined();
    expect(fieldStart("minute", t("2028-02-01T00:00Z"), "00:60")).toBeUndefined();
    expect(fieldStart("minute", t("2028-02-01T00:00Z"), "0000")).toBeUndefined();
    expect(isFieldOf("hour", 0, 5)).toBe(false);
    expect(isFieldOf("minute", 23, 59)).toBe(true);
  });
});
