/** Discord's epoch (2015-01-01T00:00:00Z) in ms: snowflakes count from it. */
export const DISCORD_EPOCH_MS = 1_420_070_400_000;

/** The creation time encoded in a snowflake. */
export function snowflakeTime(id: string): Date {
  return new Date(Number(BigInt(id) >> 22n) + DISCORD_EPOCH_MS);
}

/** A snowflake for time `at` with a low-bits sequence number (0-4095). */
export function snowflakeAt(at: Date | number, sequence = 0): string {
  const ms = BigInt(typeof at === "number" ? at : at.getTime()) - BigInt(DISCORD_EPOCH_MS);
  return ((ms << 22n) | BigInt(sequence & 0xfff)).toString();
}

/** Issues unique, increasing snowflakes for "now" (like Discord's ids: time in the high bits, a counter in the low). */
export class SnowflakeGenerator {
  private lastMs = 0;
  private sequence = 0;

  /** The next id: unique within this generator, never smaller than the previous one. */
  next(now = Date.now()): string {
    const ms = Math.max(now, this.lastMs);
    if (ms === this.lastMs) {
      this.sequence += 1;
      // 4096 ids in one ms exhausted: borrow the next ms so ids stay unique and ordered.
      if (this.sequence > 0xfff) return this.next(ms + 1);
    } else {
      this.sequence = 0;
    }
    this.lastMs = ms;
    return snowflakeAt(ms, this.sequence);
  }
}
