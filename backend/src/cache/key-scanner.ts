import type { Redis } from "ioredis";
import type { CacheContext } from "./cache-context.ts";
import { decodeEnvelope } from "./cache-envelope.ts";

const SCAN_COUNT = 500;

/**
 * Bulk operations over this cache's own keys: SCAN with MATCH on every master (never KEYS), deletes by UNLINK in
 * batches (one UNLINK per key in a cluster, where a multi-key UNLINK would cross slots). Never FLUSHALL/FLUSHDB.
 */
export class KeyScanner {
  constructor(private readonly ctx: CacheContext) {}

  /** Deletes every key matching a full-key MATCH pattern; returns how many were deleted. */
  async deleteMatching(match: string): Promise<number> {
    let deleted = 0;
    await this.scan(match, async (keys, node) => {
      deleted += await this.unlink(node, keys);
    });
    return deleted;
  }

  /** Counts the keys matching a full-key MATCH pattern. */
  async count(match: string): Promise<number> {
    let count = 0;
    await this.scan(match, (keys) => {
      count += keys.length;
    });
    return count;
  }

  /** Counts keys matching a full-key pattern and measures MEMORY USAGE of up to `sampleSize` of them. */
  async measure(match: string, sampleSize: number): Promise<{ keys: number; sampled: number; sampledBytes: number }> {
    let keys = 0;
    let sampled = 0;
    let sampledBytes = 0;
    await this.scan(match, async (batch, node) => {
      keys += batch.length;
      const take = batch.slice(0, Math.max(0, sampleSize - sampled));
      if (take.length === 0) return;
      const results = await this.ctx.gateway.call(() => node.pipeline(take.map((key) => ["memory", "usage", key])).exec());
      for (const [error, bytes] of results ?? []) {
        if (error || bytes === null) continue;
        sampled += 1;
        sampledBytes += Number(bytes);
      }
    });
    return { keys, sampled, sampledBytes };
  }

  /**
   * Hard delete of every entry carrying `tag` (data-deletion requests): scans all entries of this prefix, reads
   * them in batches and UNLINKs those whose envelope lists the tag. Cost grows with the number of entries.
   */
  async deleteTagged(tag: string): Promise<{ scanned: number; deleted: number }> {
    let scanned = 0;
    let deleted = 0;
    await this.scan(this.ctx.keys.allEntriesPattern(), async (keys, node) => {
      scanned += keys.length;
      const raws = await this.readRaw(node, keys);
      const tagged = keys.filter((_, i) => {
        const envelope = decodeEnvelope(raws[i]);
        return envelope !== undefined && Object.hasOwn(envelope.tags, tag);
      });
      if (tagged.length > 0) deleted += await this.unlink(node, tagged);
    });
    return { scanned, deleted };
  }

  private async scan(match: string, onBatch: (keys: string[], node: Redis) => Promise<void> | void): Promise<void> {
    const { gateway } = this.ctx;
    for (const node of gateway.masters()) {
      let cursor = "0";
      do {
        const [next, keys] = await gateway.call(() => node.scan(cursor, "MATCH", match, "COUNT", SCAN_COUNT));
        cursor = next;
        if (keys.length > 0) await onBatch(keys, node);
      } while (cursor !== "0");
    }
  }

  private async unlink(node: Redis, keys: string[]): Promise<number> {
    const { gateway } = this.ctx;
    if (!gateway.isCluster) return gateway.call(() => node.unlink(...keys));
    const results = await gateway.call(() => node.pipeline(keys.map((key) => ["unlink", key])).exec());
    return (results ?? []).reduce((sum, [error, count]) => sum + (error ? 0 : Number(count)), 0);
  }

  private async readRaw(node: Redis, keys: string[]): Promise<(string | null)[]> {
    const { gateway } = this.ctx;
    if (!gateway.isCluster) return gateway.call(() => node.mget(...keys));
    const results = await gateway.call(() => node.pipeline(keys.map((key) => ["get", key])).exec());
    return (results ?? []).map(([error, value]) => (error ? null : (value as string | null)));
  }
}
