import type { Cluster, Redis } from "ioredis";
import { escapeGlob, scanEveryMaster, scanTargets } from "./scan-every-master.ts";

/** Options of `prefixFootprint`. */
export interface PrefixFootprintOptions {
  /** Most keys whose MEMORY USAGE is asked, over all masters (default 1,000); 0 skips memory. */
  sample?: number;
  /** SCAN COUNT hint (default 500). */
  scanCount?: number;
}

/** Evictions as far as Redis can tell them; see `estimatedAppEvictedKeys` for what that means for this app. */
export interface EvictionFigures {
  /** Sum of `evicted_keys` (INFO stats) over the masters: every key evicted from those servers, any application. */
  serverEvictedKeys: number;
  /**
   * serverEvictedKeys × (this prefix's keys / all keys on those servers): an approximation that assumes evictions
   * fall on applications in proportion to their share of keys. Redis does not count evictions per prefix.
   */
  estimatedAppEvictedKeys: number;
  /** `maxmemory-policy` of the first master ("noeviction" means nothing is evicted; writes fail instead). */
  maxmemoryPolicy: string | null;
  approximate: true;
}

/** Keys and memory used by one application's prefix. */
export interface PrefixFootprint {
  prefix: string;
  /** Keys under `<prefix>:` right now, counted exactly by SCAN on every master. */
  keys: number;
  /** Bytes used by those keys (MEMORY USAGE), exact when every key was measured, else extrapolated. */
  memoryBytes: number;
  /** How many keys were measured with MEMORY USAGE. */
  sampledKeys: number;
  /** "exact": every key measured; "sampled": per master, the average of the measured keys × that master's key count. */
  method: "exact" | "sampled";
  approximate: boolean;
  /** Masters scanned (1 on a single node). */
  masters: number;
  evictions: EvictionFigures;
}

/**
 * Counts the keys under `<prefix>:` with SCAN on every master (never KEYS) and measures their memory with
 * MEMORY USAGE, on at most `sample` keys (spread evenly over the masters) and extrapolated per master above that.
 */
export async function prefixFootprint(
  redis: Redis | Cluster,
  prefix: string,
  options: PrefixFootprintOptions = {},
): Promise<PrefixFootprint> {
  const sample = options.sample ?? 1_000;
  const masters = scanTargets(redis);
  const perMasterSample = Math.ceil(sample / masters.length);
  const perMaster = new Map<Redis, { keys: number; sampled: number; bytes: number }>();
  for (const node of masters) perMaster.set(node, { keys: 0, sampled: 0, bytes: 0 });

  await scanEveryMaster(
    redis,
    `${escapeGlob(prefix)}:*`,
    async (keys, node) => {
      const tally = perMaster.get(node) ?? { keys: 0, sampled: 0, bytes: 0 };
      perMaster.set(node, tally);
      tally.keys += keys.length;
      const wanted = Math.min(perMasterSample - tally.sampled, keys.length);
      if (wanted <= 0) return;
      // SCAN returns keys in hash-table order, unrelated to their names: the first keys seen are a fair sample.
      const pipeline = node.pipeline();
      for (const key of keys.slice(0, wanted)) pipeline.call("MEMORY", "USAGE", key);
      for (const [error, bytes] of (await pipeline.exec()) ?? []) {
        // A key that expired between SCAN and MEMORY USAGE answers null: it is simply not in the sample.
        if (!error && typeof bytes === "number") {
          tally.sampled += 1;
          tally.bytes += bytes;
        }
      }
    },
    options.scanCount ?? 500,
  );

  let keys = 0;
  let sampledKeys = 0;
  let memoryBytes = 0;
  for (const tally of perMaster.values()) {
    keys += tally.keys;
    sampledKeys += tally.sampled;
    if (tally.sampled > 0)
      memoryBytes += tally.sampled >= tally.keys ? tally.bytes : (tally.bytes / tally.sampled) * tally.keys;
  }
  const exact = sampledKeys >= keys;
  return {
    prefix,
    keys,
    memoryBytes: Math.round(memoryBytes),
    sampledKeys,
    method: exact ? "exact" : "sampled",
    approximate: !exact,
    masters: masters.length,
    evictions: await evictionFigures(masters, keys),
  };
}

/** Server-wide eviction counts of the masters and this prefix's proportional share of them. */
async function evictionFigures(masters: Redis[], appKeys: number): Promise<EvictionFigures> {
  let serverEvictedKeys = 0;
  let serverKeys = 0;
  let maxmemoryPolicy: string | null = null;
  for (const [index, node] of masters.entries()) {
    const info = await node.info();
    serverEvictedKeys += Number(/^evicted_keys:(\d+)/m.exec(info)?.[1] ?? 0);
    // INFO keyspace: "db0:keys=12,expires=3,avg_ttl=0" per logical database; evictions cover them all.
    for (const match of info.matchAll(/^db\d+:keys=(\d+)/gm)) serverKeys += Number(match[1]);
    if (index === 0) {
      // Managed Redis services often disable CONFIG: then the policy is simply unknown.
      const policy = (await node.config("GET", "maxmemory-policy").catch(() => [])) as string[];
      maxmemoryPolicy = policy[1] ?? null;
    }
  }
  return {
    serverEvictedKeys,
    estimatedAppEvictedKeys: serverKeys === 0 ? 0 : Math.round(serverEvictedKeys * Math.min(1, appKeys / serverKeys)),
    maxmemoryPolicy,
    approximate: true,
  };
}
