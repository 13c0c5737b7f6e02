import { BENCH_VALUE } from "../lib/bench-value.ts";
import { median, timeMs } from "../lib/measure.ts";
import { formatMs, formatRatio, formatTable } from "../lib/table.ts";
import type { BenchContext } from "./bench-context.ts";

/** Entry counts under the invalidated tag: the cost at the large one must stay within 1.5x the small one. */
const SMALL = 100;
const LARGE = 100_000;
const FILL_CHUNK = 250;
/** Filling 100,000 entries takes seconds, so the large size gets fewer rounds than the small one. */
const LARGE_ROUNDS = 3;
/** Keys read back after each invalidation: every one must be gone. */
const SAMPLE_SIZE = 50;

/**
 * `invalidateByTag` with 100 and with 100,000 entries under the tag. Each round fills the entries (mset in chunks,
 * not timed), times only the first invalidation of a fresh tag, checks a sample of entries reads as a miss, then
 * clears the cache's keys. Small and large rounds alternate (the large size gets LARGE_ROUNDS); medians are compared.
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
  const timings = new Map<number, number[]>([
    [SMALL, []],
    [LARGE, []],
  ]);
  const fills = new Map<number, number[]>([
    [SMALL, []],
    [LARGE, []],
  ]);
  try {
    const { cache } = handle;
    // Round 0 is a warm-up with the small size (connections, JIT); it is not reported.
    const rounds = Math.max(context.rounds, LARGE_ROUNDS);
    const plan = [SMALL, ...Array.from({ length: rounds }, (_, round) => (round < LARGE_ROUNDS ? [SMALL, LARGE] : [SMALL])).flat()];
    for (const [round, size] of plan.entries()) {
      const tag = `bench-tag-${round}`;
      const keys = Array.from({ length: size }, (_, index) => `tagged:${round}:${index}`);
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
      const invalidationMs = await timeMs(() => cache.invalidateByTag(tag));
      for (const key of sample) {
        if ((await cache.get(key)) !== undefined) {
          throw new Error(`tag bench: ${key} still readable after invalidateByTag resolved`);
        }
      }
      await cache.clear();
      if (round === 0) continue;
      timings.get(size)!.push(invalidationMs);
      fills.get(size)!.push(fillMs);
    }
  } finally {
    await handle.close();
  }

  const small = median(timings.get(SMALL)!);
  const large = median(timings.get(LARGE)!);
  const ratio = large / small;
  const label = context.targets.record({
    target: "invalidateByTag(100,000 entries) <= 1.5x invalidateByTag(100 entries)",
    measured: formatRatio(ratio),
    pass: ratio <= 1.5,
  });
  context.print("### invalidateByTag: cost vs entries under the tag");
  context.print();
  context.print(
    formatTable(
      ["entries under the tag", "invalidateByTag median", "all rounds", "fill (not timed) median"],
      [SMALL, LARGE].map((size) => [
        size.toLocaleString("en-US"),
        formatMs(median(timings.get(size)!)),
        timings.get(size)!.map(formatMs).join(", "),
        formatMs(median(fills.get(size)!)),
      ]),
    ),
  );
  context.print();
  context.print(`100,000 vs 100 entries: ${formatRatio(ratio)} (target <= 1.5x): ${label}`);
  context.print();
}

/** About SAMPLE_SIZE keys spread evenly over `keys`, always including the last one. */
function sampleKeys(keys: string[]): string[] {
  const step = Math.max(1, Math.floor(keys.length / SAMPLE_SIZE));
  const sample = keys.filter((_, index) => index % step === 0);
  return [...sample, keys.at(-1)!];
}
