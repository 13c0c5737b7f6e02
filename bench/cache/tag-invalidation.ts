import type { SpyCache } from "../../backend/src/cache/index.ts";
import { BENCH_VALUE } from "../lib/bench-value.ts";
import { collectGarbage } from "../lib/collect-garbage.ts";
import { median, timeMs } from "../lib/measure.ts";
import { formatMs, formatRatio, formatTable } from "../lib/table.ts";
import type { BenchContext } from "./bench-context.ts";

/** Entry counts under the invalidated tag: the cost at the large one must stay within 1.5x the small one. */
const SMALL = 100;
const LARGE = 100_000;
/** Filling 100,000 entries takes seconds, so the large size gets fewer rounds than the small one. */
const LARGE_ROUNDS = 7;
const FILL_CHUNK = 250;
/** Invalidations of empty tags between a fill and the timed call (see fillAndInvalidate). */
const SETTLE_CALLS = 3;
/** Entries read back before and after each invalidation: all readable before, none after. */
const SAMPLE_SIZE = 50;

interface RoundResult {
  invalidationMs: number;
  fillMs: number;
  /** The first settling call: invalidating an empty tag right after the fill (see fillAndInvalidate). */
  settleMs: number;
}

/**
 * `invalidateByTag` with 100 and with 100,000 entries under the tag. Each round fills the entries under a fresh
 * tag (mset in chunks, not timed), lets the cache settle, times only that tag's first invalidation, checks a sample
 * reads as a miss, then clears the cache's keys. Small and large rounds alternate (the large size gets LARGE_ROUNDS); medians compared.
 */
export async function runTagInvalidationBench(context: BenchContext): Promise<void> {
  // Filling 100,000 entries is bulk work: a longer command timeout keeps a busy machine from failing (and
  // silently skipping) fill writes. Only the invalidation is timed, and it is a single small call either way.
  const handle = await context.makeOurCache({
    url: context.url,
    prefix: `${context.prefix}:tags`,
    l1: false,
    commandTimeoutMs: 2_000,
  });
  const results = new Map<number, RoundResult[]>([
    [SMALL, []],
    [LARGE, []],
  ]);
  try {
    // The first round is a warm-up with the small size (connections, JIT, scripts loaded); it is not reported.
    await fillAndInvalidate(handle.cache, "warm-up", SMALL);
    const smallRounds = Math.max(context.rounds, LARGE_ROUNDS);
    for (let round = 0; round < smallRounds; round++) {
      results.get(SMALL)!.push(await fillAndInvalidate(handle.cache, `r${round}`, SMALL));
      if (round < LARGE_ROUNDS) results.get(LARGE)!.push(await fillAndInvalidate(handle.cache, `r${round}`, LARGE));
    }
  } finally {
    await handle.close();
  }

  const timings = (size: number): number[] => results.get(size)!.map((result) => result.invalidationMs);
  const ratio = median(timings(LARGE)) / median(timings(SMALL));
  const label = context.targets.record({
    target: "invalidateByTag(100,000 entries) <= 1.5x invalidateByTag(100 entries)",
    measured: formatRatio(ratio),
    pass: ratio <= 1.5,
    note: `medians of ${timings(LARGE).length} and ${timings(SMALL).length} rounds`,
  });
  context.print("### invalidateByTag: cost vs entries under the tag");
  context.print();
  context.print(
    formatTable(
      [
        "entries under the tag",
        "rounds",
        "invalidateByTag median",
        "min",
        "max",
        "fill median (not timed)",
        "first call after fill (empty tag) median",
      ],
      [SMALL, LARGE].map((size) => [
        size.toLocaleString("en-US"),
        String(timings(size).length),
        formatMs(median(timings(size))),
        formatMs(Math.min(...timings(size))),
        formatMs(Math.max(...timings(size))),
        formatMs(median(results.get(size)!.map((result) => result.fillMs))),
        formatMs(median(results.get(size)!.map((result) => result.settleMs))),
      ]),
    ),
  );
  context.print();
  context.print(`100,000 vs 100 entries (ratio of medians): ${formatRatio(ratio)} (target <= 1.5x): ${label}`);
  context.print();
}

/** One round: fill `size` entries under a fresh tag, time its invalidation, check it took, clear. */
async function fillAndInvalidate(cache: SpyCache, round: string, size: number): Promise<RoundResult> {
  const tag = `bench-tag-${round}-${size}`;
  const keys = Array.from({ length: size }, (_, index) => `tagged:${round}:${size}:${index}`);
  const fillMs = await timeMs(async () => {
    for (let start = 0; start < size; start += FILL_CHUNK) {
      const chunk = keys.slice(start, start + FILL_CHUNK);
      await cache.mset(chunk.map((key) => ({ key, value: BENCH_VALUE, options: { ttl: "10m", tags: [tag] } })));
    }
  });
  const sample = sampleKeys(keys);
  for (const key of sample) {
    if ((await cache.get(key)) === undefined) throw new Error(`tag bench: filled entry ${key} not readable`);
  }
  // Bulk work leaves the process cold for the next different call: its garbage is collected, and V8 may have
  // flushed the bytecode of code unused through many collections (the invalidation path). Measured: the first
  // invalidateByTag after a 100,000-entry fill takes ~5 ms even for an empty tag, the next ones ~0.5 ms, with or
  // without write announcements. So: collect now (not inside the timed call), then invalidate SETTLE_CALLS empty
  // tags (awaited calls, not sleeps; the first one is reported as "settle"), then time the real tag.
  collectGarbage();
  let settleMs = 0;
  for (let call = 0; call < SETTLE_CALLS; call++) {
    const ms = await timeMs(() => cache.invalidateByTag(`bench-empty-${round}-${size}-${call}`));
    if (call === 0) settleMs = ms;
  }
  const invalidationMs = await timeMs(() => cache.invalidateByTag(tag));
  for (const key of sample) {
    if ((await cache.get(key)) !== undefined) throw new Error(`tag bench: ${key} still readable after invalidateByTag`);
  }
  await cache.clear();
  return { invalidationMs, fillMs, settleMs };
}

/** About SAMPLE_SIZE keys spread evenly over `keys`, always including the last one. */
function sampleKeys(keys: string[]): string[] {
  const step = Math.max(1, Math.floor(keys.length / SAMPLE_SIZE));
  return [...keys.filter((_, index) => index % step === 0), keys.at(-1)!];
}
