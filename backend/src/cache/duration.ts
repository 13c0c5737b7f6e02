import type { Duration } from "./cache-types.ts";
import { InvalidDurationError } from "./cache-errors.ts";

/** TTL presets by data class, from the source documents (ms). */
export const TTL_PRESETS = {
  /** 1 minute: near-live data. */
  realtime: 60_000,
  /** 5 minutes. */
  short: 5 * 60_000,
  /** 15 minutes. */
  medium: 15 * 60_000,
  /** 1 hour. */
  long: 60 * 60_000,
  /** 24 hours. */
  daily: 24 * 60 * 60_000,
} as const;

/** Name of a TTL preset. */
export type TtlPreset = keyof typeof TTL_PRESETS;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parsed duration strings: TTLs repeat ("5m" on every call), so the hot path should not re-run the regex. */
const parsedStrings = new Map<string, number>();

/** Parses a Duration (ms number, "500ms", "30s", "5m", "1h", "1d", or a preset name) into milliseconds. */
export function parseDuration(input: Duration | TtlPreset): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw new InvalidDurationError(input);
    return Math.floor(input);
  }
  const known = parsedStrings.get(input);
  if (known !== undefined) return known;
  let ms: number;
  if (input in TTL_PRESETS) ms = TTL_PRESETS[input as TtlPreset];
  else {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(String(input).trim());
    if (!match) throw new InvalidDurationError(input);
    ms = Math.floor(Number(match[1]) * UNIT_MS[match[2]!]!);
  }
  // Bounded: a caller building strings dynamically must not grow this forever.
  if (parsedStrings.size >= 1_000) parsedStrings.clear();
  parsedStrings.set(input, ms);
  return ms;
}

/** Like parseDuration, but `undefined` gives `fallback`. */
export function parseOptionalDuration(input: Duration | TtlPreset | undefined, fallback: number): number {
  return input === undefined ? fallback : parseDuration(input);
}
