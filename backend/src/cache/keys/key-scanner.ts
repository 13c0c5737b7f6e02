import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { CacheContext } from "../cache-context.ts";
import { decodeEnvelope, type CacheEnvelope } from "../read/cache-envelope.ts";
import { UNLINK_IF_UNCHANGED } from "../transport/lua-script.ts";

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
      const results = await this.ctx.gateway.call(
        () => node.pipeline(take.map((key) => ["memory", "usage", key])).exec(),
        node,
      );
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

  /**
   * Deletes the entries a tag they carry was invalidated since they were built (their version is older than the
   * tag's current one in Redis): invalidation is O(1) and leaves their bytes to the TTL, this gives them back now.
   * An entry softly invalidated less than S ago could still be served once, stale, while it is recomputed: the
   * sweep deletes it too (its next reader then waits for the recompute, as after a hard invalidation). Each key is
   * deleted only if it still holds the value read (an entry rewritten meanwhile survives). A delete that fails is
   * counted in `failed` and the sweep goes on; a failed SCAN or read rejects. Cost grows with the number of
   * entries: an operator's command.
   */
  async sweepInvalidated(): Promise<{ scanned: number; deleted: number; bytes: number; failed: number }> {
    let scanned = 0;
    let deleted = 0;
    let bytes = 0;
    let failed = 0;
    await this.scan(this.ctx.keys.allEntriesPattern(), async (keys, node) => {
      scanned += keys.length;
      const raws = await this.readRaw(node, keys);
      const envelopes = raws.map((raw) => decodeEnvelope(raw));
      const tags = new Set<string>();
      for (const envelope of envelopes) if (envelope) for (const tag in envelope.tags) tags.add(tag);
      if (tags.size === 0) return;
      const current = await this.ctx.tags.fetch([...tags]);
      const outcomes = await Promise.allSettled(
        keys.map((key, i) => {
          const envelope = envelopes[i];
          const raw = raws[i];
          // Last good copies outlive invalidations on purpose (stale-if-error): only their horizon ends them.
          if (
            !envelope ||
            envelope.lastGood ||
            raw === null ||
            raw === undefined ||
            !invalidatedSince(envelope, current)
          )
            return 0;
          const sha1 = createHash("sha1").update(raw).digest("hex");
          return this.ctx.gateway
            .call(() => UNLINK_IF_UNCHANGED.run(node, [key], [sha1]), node)
            .then((n) => {
              if (Number(n) !== 1) return 0;
              bytes += Buffer.byteLength(raw);
              return 1;
            });
        }),
      );
      for (const outcome of outcomes) {
        if (outcome.status === "fulfilled") deleted += outcome.value;
        else failed += 1;
      }
    });
    return { scanned, deleted, bytes, failed };
  }

  private async scan(match: string, onBatch: (keys: string[], node: Redis) => Promise<void> | void): Promise<void> {
    const { gateway } = this.ctx;
    const masters = gateway.masters();
    // A cluster that lost every node has no masters: scanning nothing would report "0 deleted" as if done.
    if (masters.length === 0) throw new Error("no Redis master is known (the cluster is unreachable)");
    for (const node of masters) {
      let cursor = "0";
      do {
        const [next, keys] = await gateway.call(() => node.scan(cursor, "MATCH", match, "COUNT", SCAN_COUNT), node);
        cursor = next;
        if (keys.length > 0) await onBatch(keys, node);
      } while (cursor !== "0");
    }
  }

  private async unlink(node: Redis, keys: string[]): Promise<number> {
    const { gateway } = this.ctx;
    if (!gateway.isCluster) return gateway.call(() => node.unlink(...keys), node);
    const results = await gateway.call(() => node.pipeline(keys.map((key) => ["unlink", key])).exec(), node);
    return (results ?? []).reduce((sum, [error, count]) => sum + (error ? 0 : Number(count)), 0);
  }

  private async readRaw(node: Redis, keys: string[]): Promise<(string | null)[]> {
    const { gateway } = this.ctx;
    if (!gateway.isCluster) return gateway.call(() => node.mget(...keys), node);
    const results = await gateway.call(() => node.pipeline(keys.map((key) => ["get", key])).exec(), node);
    return (results ?? []).map(([error, value]) => (error ? null : (value as string | null)));
  }
}

/** True when one of the entry's tags has a newer version than the one it was built with. */
function invalidatedSince(envelope: CacheEnvelope, current: Map<string, number>): boolean {
  for (const tag in envelope.tags) {
    const version = current.get(tag);
    if (version !== undefined && version > envelope.tags[tag]!) return true;
  }
  return false;
}
