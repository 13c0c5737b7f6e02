import { describe, expect, it } from "vitest";
import { HeardInstances } from "../../../../backend/src/cache/tags/heard-instances.ts";

describe("HeardInstances", () => {
  it("lists the instances heard within W, except the caller, and forgets older ones", () => {
    const heard = new HeardInstances(500);
    heard.runBroken(0);
    heard.heardPing("old", 100);
    heard.heardPing("self", 900);
    heard.heardPing("recent", 1_000);
    expect([...heard.snapshot(1_050, "self").ids]).toEqual(["recent"]);
    // A ping exactly W old still counts (the proof needs W/2; W is the margin).
    expect([...heard.snapshot(1_500, "self").ids]).toEqual(["recent"]);
    expect([...heard.snapshot(1_501, "self").ids]).toEqual([]);
  });

  it("an instance that left is not listed until it pings again", () => {
    const heard = new HeardInstances(500);
    heard.heardPing("b", 10);
    heard.left("b");
    expect(heard.snapshot(20, "a").ids.size).toBe(0);
    heard.heardPing("b", 30);
    expect([...heard.snapshot(40, "a").ids]).toEqual(["b"]);
  });

  it("early resolution waits until W/2 after the unbroken run began (first message, or the last gap)", () => {
    const heard = new HeardInstances(500);
    expect(heard.snapshot(10, "a").notBefore).toBe(250);
    heard.runBroken(1_000);
    expect(heard.snapshot(1_010, "a").notBefore).toBe(1_250);
  });

  it("does not keep ids of long-gone peers when it never takes a snapshot", () => {
    const heard = new HeardInstances(500);
    for (let i = 0; i < 1_000; i += 1) heard.heardPing(`peer-${i}`, i * 1_000);
    expect(heard.snapshot(999_000, "a").ids.size).toBeLessThanOrEqual(1);
    expect((heard as unknown as { lastPing: Map<string, number> }).lastPing.size).toBeLessThanOrEqual(257);
  });
});
