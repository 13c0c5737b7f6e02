import type { z } from "zod";
import type { CacheContext } from "../cache-context.ts";
import type { CacheEnvelope } from "./cache-envelope.ts";
import type { Duration, RememberOptions, SetOptions } from "../cache-types.ts";
import type { EntryReader } from "./entry-reader.ts";

/** An entry to warm by computing it: `ttl` (or `options.ttl`, else the default TTL) and its loader. */
export interface WarmLoaderEntry {
  key: string;
  ttl?: Duration;
  loader: () => Promise<unknown>;
  options?: RememberOptions<unknown>;
}

/** An entry to warm with a value in hand, as document 001 writes it: `{ key, value, options: { ttl, tags } }`. */
export interface WarmValueEntry {
  key: string;
  value: unknown;
  options?: SetOptions;
}

/** One entry to warm. */
export type WarmEntry = WarmLoaderEntry | WarmValueEntry;

/** True for `{ key, value, options }` entries (no loader). */
export function isValueEntry(entry: WarmEntry): entry is WarmValueEntry {
  return !("loader" in entry) || typeof (entry as WarmLoaderEntry).loader !== "function";
}

/** What `warm` did. */
export interface WarmReport {
  /** Entries now cached (computed or already there). */
  warmed: number;
  /** Entries whose loader or write failed, with the reason. */
  failed: { key: string; error: string }[];
}

/**
 * Batch cache-aside: one read for all keys, ONE loader call for every miss, one write per computed value. The
 * tag versions are captured before the loader runs, so values computed across an invalidation are never valid.
 * Redis down: the loader is called for all keys and nothing is stored.
 */
export async function rememberMany<T>(
  ctx: CacheContext,
  reader: EntryReader,
  tags: string[],
  keys: string[],
  _ttl: Duration,
  loader: (missingKeys: string[]) => Promise<Map<string, T> | Record<string, T>>,
  options: SetOptions & { schema?: z.ZodType<T> },
  build: (value: T, versions: Map<string, number>) => CacheEnvelope,
): Promise<(T | undefined)[]> {
  const fullKeys = keys.map((key) => ctx.keys.entry(key));
  let envelopes: (CacheEnvelope | undefined)[];
  let versions: Map<string, number> | undefined;
  try {
    [envelopes, versions] = await Promise.all([reader.readMany(fullKeys), ctx.tags.current(tags)]);
  } catch {
    ctx.stats.recordBypass();
    const loaded = asMap(await loader([...new Set(keys)]));
    return keys.map((key) => loaded.get(key));
  }
  const now = Date.now();
  const results: (T | undefined)[] = new Array(keys.length);
  const missing = new Set<string>();
  keys.forEach((key, i) => {
    const envelope = envelopes[i];
    if (envelope && now < envelope.freshUntil) {
      const parsed = options.schema
        ? options.schema.safeParse(envelope.value)
        : { success: true as const, data: envelope.value as T };
      if (parsed.success) {
        ctx.stats.recordHit("l2");
        results[i] = parsed.data;
        return;
      }
    }
    missing.add(key);
  });
  if (missing.size === 0) return results;
  const started = performance.now();
  const loaded = asMap(await loader([...missing]));
  ctx.stats.observeLoaderLatency(performance.now() - started);
  const writes: Promise<boolean>[] = [];
  keys.forEach((key, i) => {
    if (!missing.has(key)) return;
    ctx.stats.recordMiss();
    if (!loaded.has(key)) return;
    const value = loaded.get(key) as T;
    results[i] = value;
    writes.push(reader.write(fullKeys[i]!, build(value, versions!)));
  });
  await Promise.all(writes);
  return results;
}

/** Runs `fill` for each entry with bounded concurrency (default 8); never rejects. */
export async function warm(
  entries: WarmEntry[],
  options: { concurrency?: number },
  fill: (entry: WarmEntry) => Promise<void>,
): Promise<WarmReport> {
  const report: WarmReport = { warmed: 0, failed: [] };
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const entry = entries[next++]!;
      try {
        await fill(entry);
        report.warmed += 1;
      } catch (error) {
        report.failed.push({ key: entry.key, error: error instanceof Error ? error.message : String(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, entries.length) }, worker));
  return report;
}

function asMap<T>(result: Map<string, T> | Record<string, T>): Map<string, T> {
  return result instanceof Map ? result : new Map(Object.entries(result));
}
