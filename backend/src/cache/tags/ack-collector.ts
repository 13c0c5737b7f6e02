/**
 * Decides when one invalidation may resolve (docs/cache.md, "Tag invalidation", rule 4): W after its publication,
 * or earlier once every expected instance acknowledged and the invalidator's unbroken view of the bus is W/2 old.
 * Until `expect` is called (the registry was read and the bus echoed the message back), nothing resolves early.
 */
export class AckCollector {
  private readonly acked = new Set<string>();
  private expected: Set<string> | undefined;
  private notBefore = Number.POSITIVE_INFINITY;
  private deadline: NodeJS.Timeout | undefined;
  private early: NodeJS.Timeout | undefined;
  private resolveDone: (() => void) | undefined;
  private done = false;
  /** Resolves W after `startWindow`, or earlier as above. */
  readonly settled: Promise<void>;

  constructor() {
    this.settled = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Starts the W timer (once the message is published). */
  startWindow(windowMs: number): void {
    this.deadline = setTimeout(() => this.finish(), windowMs);
    this.deadline.unref();
  }

  /** `from` applied the versions. */
  ack(from: string): void {
    this.acked.add(from);
    this.check();
  }

  /** Every instance that may trust its map or vouch for fetched versions: early resolution needs each one's ack, and not before `notBefore`. */
  expect(instances: Set<string>, notBefore: number): void {
    if (this.done) return;
    this.expected = instances;
    this.notBefore = notBefore;
    this.check();
  }

  /** True when every expected instance has acknowledged. */
  get allAcked(): boolean {
    return this.expected !== undefined && [...this.expected].every((instance) => this.acked.has(instance));
  }

  /** Number of acknowledgements received. */
  get ackCount(): number {
    return this.acked.size;
  }

  /** Stops the timers (after `settled`, or when publishing failed). */
  dispose(): void {
    this.finish();
  }

  private check(): void {
    if (this.done || this.early || !this.allAcked) return;
    const wait = this.notBefore - performance.now();
    if (wait <= 0) {
      this.finish();
      return;
    }
    this.early = setTimeout(() => this.finish(), wait);
    this.early.unref();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.deadline);
    clearTimeout(this.early);
    this.resolveDone?.();
  }
}
