import type { Duration } from "./cache-types.ts";
import { InvalidDurationError } from "./cache-errors.ts";

/** TTL presets by data class, from the source documents, in SECONDS (as every numeric TTL of the cache API). */
export const TTL_PRESETS = {
  /** 1 minute: near-live data. */
  realtime: 60,
  /** 5 minutes. */
  short: 5 * 60,
  /** 15 minutes. */
  medium: 15 * 60,
  /** 1 hour. */
  long: 60 * 60,
  /** 24 hours. */
  daily: 24 * 60 * 60,
} as const;

/** Name of a TTL preset. */
export type TtlPreset = keyof typeof TTL_PRESETS;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parsed duration strings: TTLs repeat ("5m" on every call), so the hot path should not re-run the regex. */
const parsedStrings = new Map<string, number>();

/**
 * Parses a Duration into milliseconds: a number is SECONDS (as in document 001 and Redis `EX`: `300` is five
 * minutes; fractions allowed, `0.5` is 500 ms); a string carries its unit ("500ms", "30s", "5m", "1h", "1d");
 * a preset name ("short") is its TTL_PRESETS entry.
 */
export function parseDuration(input: Duration | TtlPreset): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw new InvalidDurationError(input);
    return Math.floor(input * 1_000);
  }
  const known = parsedStrings.get(input);
  if (known !== undefined) return known;
  let ms: number;
  if (input in TTL_PRESETS) ms = TTL_PRESETS[input as TtlPreset] * 1_000;
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

/** Like parseDuration, but `undefined` gives `fallback` (ms). */
export function parseOptionalDuration(input: Duration | TtlPreset | undefined, fallback: number): number {
  return input === undefined ? fallback : parseDuration(input);
}

/** A duration known in milliseconds as a Duration the cache API reads unambiguously ("1500ms"). */
export function milliseconds(ms: number): `${number}ms` {
  return `${ms}ms`;
}
