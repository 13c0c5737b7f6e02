import type { Cluster, Redis } from "ioredis";

/** Characters with a meaning in a Redis MATCH glob. */
const GLOB_SPECIALS = /[*?[\]\\]/g;

/** Escapes `text` so a MATCH pattern matches it literally (e.g. a prefix that contains `[` or `*`). */
export function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIALS, (char) => `\\${char}`);
}

/** The nodes to SCAN for a client: every master of a cluster, or the single node itself. */
export function scanTargets(redis: Redis | Cluster): Redis[] {
  return redis.isCluster ? (redis as Cluster).nodes("master") : [redis as Redis];
}

/**
 * Runs SCAN with `match` on every master (never KEYS), calling `onBatch` with each non-empty batch of keys, in
 * order per node. `count` is the SCAN COUNT hint (default 500). Stops early when `onBatch` returns false.
 */
export async function scanEveryMaster(
  redis: Redis | Cluster,
  match: string,
  onBatch: (keys: string[], node: Redis) => Promise<boolean | void> | boolean | void,
  count = 500,
): Promise<void> {
  for (const node of scanTargets(redis)) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", match, "COUNT", count);
      cursor = next;
      if (keys.length > 0 && (await onBatch(keys, node)) === false) return;
    } while (cursor !== "0");
  }
}
