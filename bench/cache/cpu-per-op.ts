/**
 * CPU time per sequential L2 hit: the limit (raw ioredis GET + JSON.parse) against our `remember` and `get`, no L1.
 *   npx tsx bench/cache/cpu-per-op.ts [--rounds 20] [--calls 2000] [--keys 1]
 * Wall-clock ratios of sequential hits swing with the machine's load (other processes take the cores while a
 * call waits for Redis); the process's own CPU time per call (process.cpuUsage, user + system, all its threads)
 * swings far less, so it shows what the hit path itself costs. Rounds are interleaved and their order rotates;
 * medians are printed with the wall-clock time beside them. No forced GC between rounds: a `gc()` before each
 * round made every contender's next 1,000 calls about 3x as expensive (CPU and wall), which measures the GC.
 */
import { Command } from "commander";
import { BENCH_VALUE } from "../lib/bench-value.ts";
import { missLoader } from "../lib/cache-subject.ts";
import { BENCH_REDIS_URL, benchPrefix, deleteByPrefix, openBenchRedis } from "../lib/bench-redis.ts";
import { limitContender } from "../lib/limit.ts";
import { median } from "../lib/measure.ts";
import { keyNames } from "../lib/shapes.ts";
import { formatTable } from "../lib/table.ts";
import { makeOurCache } from "./our-cache.ts";

const program = new Command("cache-cpu-per-op")
  .option("--rounds <n>", "measured rounds (median reported)", Number, 40)
  .option("--calls <n>", "sequential calls per contender per round", Number, 500)
  .option("--keys <n>", "distinct keys read round-robin", Number, 1)
  .parse();
const { rounds, calls, keys: keyCount } = program.opts<{ rounds: number; calls: number; keys: number }>();

const redis = openBenchRedis();
const prefix = benchPrefix("cpu");
const ours = await makeOurCache({ url: BENCH_REDIS_URL, prefix: `${prefix}:ours`, l1: false });
try {
  const keys = keyNames("hit", keyCount);
  await ours.cache.mset(keys.map((key) => ({ key, value: BENCH_VALUE, options: { ttl: "10m" } })));
  const limit = await limitContender(redis, prefix, keyCount);
  const contenders: { name: string; call: (i: number) => Promise<unknown> }[] = [
    { name: "limit: ioredis GET + JSON.parse", call: limit.call },
    { name: "ours remember()", call: (i) => ours.cache.remember(keys[i % keyCount]!, "10m", missLoader) },
    { name: "ours get()", call: (i) => ours.cache.get(keys[i % keyCount]!) },
  ];
  const cpu = new Map(contenders.map((c) => [c.name, [] as number[]]));
  const wall = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = -2; round < rounds; round++) {
    for (let turn = 0; turn < contenders.length; turn++) {
      const contender = contenders[(turn + Math.max(0, round)) % contenders.length]!;
      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      for (let i = 0; i < calls; i++) {
        if ((await contender.call(i)) === undefined) throw new Error(`${contender.name} missed`);
      }
      const wallUs = (performance.now() - wallBefore) * 1000;
      const used = process.cpuUsage(cpuBefore);
      if (round < 0) continue; // warm-up
      cpu.get(contender.name)!.push((used.user + used.system) / calls);
      wall.get(contender.name)!.push(wallUs / calls);
    }
  }
  const limitCpu = cpu.get(contenders[0]!.name)!;
  const limitWall = wall.get(contenders[0]!.name)!;
  const rows = contenders.map((c) => {
    const own = cpu.get(c.name)!;
    // Paired: each round's difference to the limit's round of the same pass, so a slow spell divides out.
    const extra = median(own.map((value, round) => value - limitCpu[round]!));
    const speed = median(wall.get(c.name)!.map((value, round) => limitWall[round]! / value));
    return [
      c.name,
      median(own).toFixed(1),
      `${extra >= 0 ? "+" : ""}${extra.toFixed(1)}`,
      median(wall.get(c.name)!).toFixed(1),
      `${speed.toFixed(3)}x`,
    ];
  });
  console.log(
    `${rounds} rounds x ${calls} sequential calls, ${keyCount} key(s); medians; load average ${(await import("node:os"))
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    formatTable(
      ["contender", "CPU µs/op", "CPU vs limit (median of paired rounds)", "wall µs/op", "speed vs limit (paired)"],
      rows,
    ),
  );
} finally {
  await ours.close();
  await deleteByPrefix(redis, prefix);
  redis.disconnect();
}
