import { fileURLToPath } from "node:url";
import type { SpyCache } from "../../backend/src/cache/index.ts";
import { forkBenchWorker, type BenchWorker } from "../lib/child-process.ts";
import { collectGarbage } from "../lib/collect-garbage.ts";
import { median, timeMs } from "../lib/measure.ts";
import { formatMs, formatRatio, formatTable } from "../lib/table.ts";
import type { BenchContext, OurCacheHandle } from "./bench-context.ts";
import type { FillReply, FillRequest } from "./tag-filler-child.ts";

/** Entry counts under the invalidated tag: the cost at the large one must stay within 1.5x the small one. */
const SMALL = 100;
const LARGE = 100_000;
/** Filling 100,000 entries takes seconds, so the large size gets fewer rounds than the small one. */
const LARGE_ROUNDS = 7;
/** Invalidations of empty tags between a fill and the timed call (see invalidateTimed). */
const SETTLE_CALLS = 3;
/** Entries read back before and after each invalidation: all readable before, none after. */
const SAMPLE_SIZE = 50;
const FILLER_SCRIPT = fileURLToPath(new URL("./tag-filler-child.ts", import.meta.url));

interface RoundResult {
  invalidationMs: number;
  fillMs: number;
  /** The first settling call: invalidating an empty tag right after the fill (see invalidateTimed). */
  settleMs: number;
}

/**
 * `invalidateByTag` with 100 and with 100,000 entries under the tag. Each round, a filler process writes the
 * entries under a fresh tag (mset in chunks of 250, not timed); this process, which did no bulk work, checks a
 * sample reads, settles, times only that tag's first invalidation, checks the sample now misses, and clears the
 * keys. Small and large rounds alternate (the large size gets LARGE_ROUNDS); the medians are compared.
 */
export async function runTagInvalidationBench(context: BenchContext): Promise<void> {
  const prefix = `${context.prefix}:tags`;
  const results = new Map<number, RoundResult[]>([
    [SMALL, []],
    [LARGE, []],
  ]);
  let handle: OurCacheHandle | undefined;
  const filler = forkBenchWorker<FillRequest, FillReply>(FILLER_SCRIPT, [context.url, prefix]);
  try {
    handle = await context.makeOurCache({ url: context.url, prefix, l1: false });
    const round = (name: string, size: number) => fillAndInvalidate(handle!.cache, filler, name, size);
    // The first round is a warm-up with the small size (connections, JIT, scripts loaded); it is not reported.
    await round("warm-up", SMALL);
    for (let index = 0; index < Math.max(context.rounds, LARGE_ROUNDS); index++) {
      results.get(SMALL)!.push(await round(`r${index}`, SMALL));
      if (index < LARGE_ROUNDS) results.get(LARGE)!.push(await round(`r${index}`, LARGE));
    }
  } finally {
    await filler.close();
    await handle?.close();
  }

  const timings = (size: number): number[] => results.get(size)!.map((result) => result.invalidationMs);
  const ratio = median(timings(LARGE)) / median(timings(SMALL));
  const label = context.targets.record({
    target: "invalidateByTag(100,000 entries) <= 1.5x invalidateByTag(100 entries)",
    measured: formatRatio(ratio),
    pass: ratio <= 1.5,
    note: `medians of ${timings(LARGE).length} and ${timings(SMALL).length} rounds`,
  });
  const medianOf = (size: number, field: keyof RoundResult): string =>
    formatMs(median(results.get(size)!.map((result) => result[field])));
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
        "fill by another process (not timed)",
        "first call after fill (empty tag)",
      ],
      [SMALL, LARGE].map((size) => [
        size.toLocaleString("en-US"),
        String(timings(size).length),
        medianOf(size, "invalidationMs"),
        formatMs(Math.min(...timings(size))),
        formatMs(Math.max(...timings(size))),
        medianOf(size, "fillMs"),
        medianOf(size, "settleMs"),
      ]),
    ),
  );
  context.print();
  context.print(`100,000 vs 100 entries (ratio of medians): ${formatRatio(ratio)} (target <= 1.5x): ${label}`);
  context.print();
}

/** One round: the filler writes `size` entries under a fresh tag; this process times its invalidation. */
async function fillAndInvalidate(
  cache: SpyCache,
  filler: BenchWorker<FillRequest, FillReply>,
  round: string,
  size: number,
): Promise<RoundResult> {
  const tag = `bench-tag-${round}-${size}`;
  const keyBase = `tagged:${round}:${size}`;
  const { fillMs } = await filler.ask({ tag, keyBase, size });
  const sample = sampleKeys(keyBase, size);
  for (const key of sample) {
    if ((await cache.get(key)) === undefined) throw new Error(`tag bench: filled entry ${key} not readable`);
  }
  const { settleMs, invalidationMs } = await invalidateTimed(cache, tag);
  for (const key of sample) {
    if ((await cache.get(key)) !== undefined) throw new Error(`tag bench: ${key} still readable after invalidateByTag`);
  }
  await cache.clear();
  return { invalidationMs, fillMs, settleMs };
}

/**
 * Times one invalidation of `tag`, after settling. While the filler wrote, this process received every write's
 * announcement on the bus and ran no invalidation code. Measured (when this process filled by itself): the first
 * invalidateByTag after a 100,000-entry fill took 4-12 ms even for an empty tag, the next ones ~0.5 ms (garbage to
 * collect, and V8 flushes bytecode of code unused through many collections). So: collect now (not inside the timed call), invalidate SETTLE_CALLS
 * empty tags (awaited calls, not sleeps; the first is reported), then time the real tag. Both sizes alike.
 */
async function invalidateTimed(cache: SpyCache, tag: string): Promise<{ settleMs: number; invalidationMs: number }> {
  collectGarbage();
  let settleMs = 0;
  for (let call = 0; call < SETTLE_CALLS; call++) {
    const ms = await timeMs(() => cache.invalidateByTag(`${tag}-empty-${call}`));
    if (call === 0) settleMs = ms;
  }
  return { settleMs, invalidationMs: await timeMs(() => cache.invalidateByTag(tag)) };
}

/** About SAMPLE_SIZE keys spread evenly over the `size` keys of `keyBase`, always including the last one. */
function sampleKeys(keyBase: string, size: number): string[] {
  const step = Math.max(1, Math.floor(size / SAMPLE_SIZE));
  const indexes = Array.from({ length: Math.ceil(size / step) }, (_, index) => index * step);
  return [...indexes, size - 1].map((index) => `${keyBase}:${index}`);
}
