/**
 * The instances this process heard ping on the invalidation bus, and since when its view of the bus is unbroken
 * (docs/cache.md, "Tag invalidation", rule 4). Times are this process's monotonic clock (`performance.now()`), so
 * only durations measured here are compared: no clock is compared across hosts.
 *
 * An invalidator takes a snapshot when the bus delivers its own invalidation message back to it. Every ping ordered
 * before that message and after the start of the unbroken run was heard; pings ordered before the run are older
 * than the run's start, so the trust they grant ends by run start + W/2.
 */
export class HeardInstances {
  /** Instance id -> performance.now() when its latest ping was delivered here. */
  private readonly lastPing = new Map<string, number>();
  /** performance.now() of the first message of the current unbroken run of sequence numbers (0: none yet). */
  private runStart = 0;

  /** @param windowMs W: a heard ping keeps its sender in snapshots for W (twice the W/2 the proof needs). */
  constructor(private readonly windowMs: number) {}

  /** A message arrived whose sequence number does not follow the last one (first message, gap, restarted Redis). */
  runBroken(now: number): void {
    this.runStart = now;
  }

  /** `instanceId` pinged; delivered here at `now`. */
  heardPing(instanceId: string, now: number): void {
    this.lastPing.set(instanceId, now);
    // Snapshots prune too, but an instance that never invalidates takes none: ids of restarted peers must not pile up.
    if (this.lastPing.size > 256)
      for (const [id, at] of this.lastPing) if (now - at > this.windowMs) this.lastPing.delete(id);
  }

  /** `instanceId` closed (it stopped trusting its map before saying so): no longer waited for. */
  left(instanceId: string): void {
    this.lastPing.delete(instanceId);
  }

  /**
   * At `now` (when the invalidator's own message arrived, in the same run as every ping ordered before it): the ids
   * heard within W, except `self`, and the earliest time an invalidation may resolve on acknowledgements (run start
   * + W/2: an instance whose last ping this process missed stops trusting it by then).
   */
  snapshot(now: number, self: string): { ids: Set<string>; notBefore: number } {
    const ids = new Set<string>();
    for (const [id, at] of this.lastPing) {
      if (now - at > this.windowMs) this.lastPing.delete(id);
      else if (id !== self) ids.add(id);
    }
    return { ids, notBefore: this.runStart + this.windowMs / 2 };
  }
}
