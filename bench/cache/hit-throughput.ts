import { isDeepStrictEqual } from "node:util";
import { BENCH_VALUE } from "../lib/bench-value.ts";
import { missLoader, type CacheSubject } from "../lib/cache-subject.ts";
import { bentocacheSubject, cacheManagerSubject } from "../lib/competitors.ts";
import { LIMIT_NAME, limitContender } from "../lib/limit.ts";
import { measureInterleaved, pairedRatio, type Contender, type Throughput } from "../lib/measure.ts";
import { SHAPES, keyNames, type Shape } from "../lib/shapes.ts";
import { formatRate, formatRatio, formatTable } from "../lib/table.ts";
import type { BenchContext, OurCacheHandle } from "./bench-context.ts";

const KEY_COUNT = Math.max(...SHAPES.map((shape) => shape.keys));
const OURS = "ours";
const OURS_GET = "ours get()";
const BENTO = "bentocache";
const BENTO_RAW = "bentocache (serialize: false)";
const CACHE_MANAGER = "cache-manager";

/** L2 hits (no L1 anywhere) in every shape, against the limit and the competitors' Redis-only setups. */
export async function runL2HitBench(context: BenchContext): Promise<void> {
  const ours = await context.makeOurCache({ url: context.url, prefix: `${context.prefix}:l2`, l1: false });
  const subjects = new Map<string, CacheSubject>([
    [OURS, ourSubject(ours)],
    [OURS_GET, ourGetSubject(ours)],
    [BENTO, bentocacheSubject({ prefix: context.prefix, l1: false })],
    [CACHE_MANAGER, cacheManagerSubject({ prefix: context.prefix, l1: false })],
  ]);
  const rows: string[][] = [];
  try {
    const perShape = await measureShapes(context, subjects, "l2");
    for (const [shape, results] of perShape) {
      const limit = results.get(LIMIT_NAME)!.median;
      const ratio = ratioOf(results, OURS, LIMIT_NAME);
      const required = shape.keys === 1 && shape.inFlight > 1 ? 5 : 0.9;
      const label = context.targets.record({
        target: `L2 hit >= ${required}x limit (${shape.name})`,
        measured: formatRatio(ratio),
        pass: ratio >= required,
      });
      rows.push([
        shape.name,
        formatRate(limit),
        cell(results, OURS),
        cell(results, OURS_GET),
        cell(results, BENTO),
        cell(results, CACHE_MANAGER),
        formatRatio(ratioOf(results, OURS, BENTO)),
        `>= ${required}x limit`,
        label,
      ]);
    }
  } finally {
    await closeAll(subjects);
  }
  context.print("### L2 hits (Redis only, no in-process tier), ~1 KB JSON value");
  context.print();
  context.print(
    formatTable(
      [
        "shape",
        "limit",
        "ours remember()",
        "ours get()",
        "bentocache L2 getOrSet()",
        "cache-manager L2 wrap()",
        "ours / bento",
        "target (remember)",
        "result",
      ],
      rows,
    ),
  );
  context.print();
}

/** L1 hits (in-process tier in front of Redis) in every shape, against the limit and the competitors' L1. */
export async function runL1HitBench(context: BenchContext): Promise<void> {
  const ours = await context.makeOurCache({ url: context.url, prefix: `${context.prefix}:l1`, l1: true });
  const subjects = new Map<string, CacheSubject>([
    [OURS, ourSubject(ours)],
    [OURS_GET, ourGetSubject(ours)],
    [BENTO, bentocacheSubject({ prefix: `${context.prefix}:l1`, l1: true })],
    [BENTO_RAW, bentocacheSubject({ prefix: `${context.prefix}:l1raw`, l1: true, bentoSerializeL1: false })],
    [CACHE_MANAGER, cacheManagerSubject({ prefix: `${context.prefix}:l1`, l1: true })],
  ]);
  const rows: string[][] = [];
  try {
    const perShape = await measureShapes(context, subjects, "l1");
    for (const [shape, results] of perShape) {
      const limit = results.get(LIMIT_NAME)!.median;
      const versusLimit = ratioOf(results, OURS, LIMIT_NAME);
      const versusBento = ratioOf(results, OURS, BENTO);
      const targets: string[] = [];
      const labels: string[] = [];
      if (shape.inFlight === 1) {
        targets.push(">= 20x limit");
        labels.push(
          context.targets.record({
            target: `L1 hit >= 20x limit (${shape.name})`,
            measured: formatRatio(versusLimit),
            pass: versusLimit >= 20,
          }),
        );
      }
      targets.push(">= 3x bento");
      labels.push(
        context.targets.record({
          target: `L1 hit >= 3x bentocache L1 (${shape.name})`,
          measured: formatRatio(versusBento),
          pass: versusBento >= 3,
        }),
      );
      rows.push([
        shape.name,
        formatRate(limit),
        cell(results, OURS),
        cell(results, OURS_GET),
        cell(results, BENTO),
        cell(results, BENTO_RAW),
        cell(results, CACHE_MANAGER),
        formatRatio(versusBento),
        targets.join(", "),
        labels.join(", "),
      ]);
    }
  } finally {
    await closeAll(subjects);
  }
  context.print("### L1 hits (in-process tier in front of Redis), ~1 KB JSON value");
  context.print();
  context.print(
    formatTable(
      [
        "shape",
        "limit",
        "ours remember()",
        "ours get()",
        "bentocache L1+L2 getOrSet()",
        "bentocache L1+L2 (serialize: false)",
        "cache-manager L1+L2 wrap()",
        "ours / bento",
        "target (remember)",
        "result",
      ],
      rows,
    ),
  );
  context.print();
}

/**
 * Seeds every subject with the bench value under the same key names, checks each reads it back intact, then
 * measures every shape in interleaved rounds (see measureInterleaved).
 */
async function measureShapes(
  context: BenchContext,
  subjects: Map<string, CacheSubject>,
  label: string,
): Promise<Map<Shape, Map<string, Throughput>>> {
  const keys = keyNames(`hit-${label}`, KEY_COUNT);
  for (const [name, subject] of subjects) {
    await subject.seed(keys, BENCH_VALUE);
    await readBackOnce(name, subject, keys[KEY_COUNT - 1]!);
  }
  const limit = await limitContender(context.redis, `${context.prefix}:${label}`, KEY_COUNT);
  const perShape = new Map<Shape, Map<string, Throughput>>();
  for (const shape of SHAPES) {
    const contenders: Contender[] = [
      { name: LIMIT_NAME, call: (i) => limit.call(i % shape.keys) },
      ...[...subjects].map(([name, subject]) => ({ name, call: hitCall(subject, keys, shape.keys) })),
    ];
    perShape.set(
      shape,
      await measureInterleaved(contenders, {
        inFlight: shape.inFlight,
        roundMs: context.roundMs,
        rounds: context.rounds,
      }),
    );
  }
  return perShape;
}

/**
 * Checks that `subject` reads back the value it was seeded with. A read that fails is tried again up to twice,
 * 1.5 s apart, said on stderr: on a loaded machine, seeding 1,000 keys can exceed the 250 ms command timeout,
 * which opens our breaker for its 1 s recovery wait (every read then bypasses to the loader, which throws) or
 * fails a competitor's read. A wrong value, or three failures, stops the bench.
 */
async function readBackOnce(name: string, subject: CacheSubject, key: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let failure: unknown;
    try {
      const readBack = await subject.read(key);
      if (isDeepStrictEqual(readBack, BENCH_VALUE)) return;
      if (readBack !== undefined) throw new Error(`${name} did not read back the value it stored`);
      failure = "undefined";
    } catch (error) {
      if (attempt === 3 || (error instanceof Error && error.message.includes("did not read back"))) throw error;
      failure = error;
    }
    if (attempt === 3) throw new Error(`${name} did not read back the value it stored (${String(failure)})`);
    console.error(`${name}: read back attempt ${attempt} failed (${String(failure)}), trying again in 1.5 s`);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  }
}

/**
 * A read that must hit: a miss would make a cache look fast for the wrong reason, so it stops the bench. Every
 * subject's read rejects on a miss itself (its loader throws; `get` checks), so the call is passed through as is:
 * a checking wrapper here would add an async step to every contender's call but not to the limit's.
 */
function hitCall(subject: CacheSubject, keys: string[], keyCount: number): Contender["call"] {
  return (i) => subject.read(keys[i % keyCount]!);
}

/** Our cache through `remember`, the call the analytics routes make (the targets are measured on it). */
function ourSubject(handle: OurCacheHandle): CacheSubject {
  return {
    name: OURS,
    seed: (keys, value) => handle.cache.mset(keys.map((key) => ({ key, value, options: { ttl: "10m" } }))),
    read: (key) => handle.cache.remember(key, "10m", missLoader),
    close: () => handle.close(),
  };
}

/**
 * The same cache through plain `get`, shown for information; it shares the handle, so closing it is a no-op. It
 * has no loader, so it rejects on a miss itself (one `then` step the other subjects do not pay).
 */
function ourGetSubject(handle: OurCacheHandle): CacheSubject {
  return {
    name: OURS_GET,
    seed: async () => undefined,
    read: (key) =>
      handle.cache.get(key).then((value) => {
        if (value === undefined) throw new Error(`${OURS_GET} missed a key it was seeded with`);
        return value;
      }),
    close: async () => undefined,
  };
}

/** Paired ratio of two contenders of one shape (see pairedRatio). */
function ratioOf(results: Map<string, Throughput>, numerator: string, denominator: string): number {
  return pairedRatio(results.get(numerator)!, results.get(denominator)!);
}

/** "median calls/s (paired ratio to the limit)". */
function cell(results: Map<string, Throughput>, name: string): string {
  return `${formatRate(results.get(name)!.median)} (${formatRatio(ratioOf(results, name, LIMIT_NAME))})`;
}

async function closeAll(subjects: Map<string, CacheSubject>): Promise<void> {
  for (const subject of subjects.values()) await subject.close();
}
