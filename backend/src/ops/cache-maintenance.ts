import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { decodeEnvelope, type CacheEnvelope } from "../cache/read/cache-envelope.ts";
import type { KeyBuilder } from "../cache/keys/key-builder.ts";
import { nodeId } from "../cache/transport/ioredis-internals.ts";
import { UNLINK_IF_UNCHANGED } from "../cache/transport/lua-script.ts";
import { escapeGlob, scanTargets } from "../cache/stats/scan-every-master.ts";
import type { RedisClient } from "../redis/redis-connections.ts";

/** What one cleanup pass found and removed (or, in a dry run, would remove). */
export interface CleanupReport {
  kind: "expired" | "locks";
  dryRun: boolean;
  /** Keys examined. */
  scanned: number;
  /** Entries invalidated by a tag bump since they were built. */
  invalidated: number;
  /** Entries past their grace period that Redis still holds (no TTL left to do it). */
  pastGrace: number;
  /** Stampede locks without an expiry (orphaned: nothing would ever remove them). */
  orphanedLocks: number;
  /** Keys deleted (0 in a dry run). */
  deleted: number;
  /** Bytes of the values deleted (or that would be). */
  bytes: number;
  /** Deletes that failed (the entry changed meanwhile counts as kept, not failed). */
  failed: number;
  /** True when the scan stopped at `maxKeys` before covering every key: the next run goes on from there. */
  truncated: boolean;
  /** Up to 20 keys removed (or that would be), for the operator to see. */
  sample: string[];
  durationMs: number;
}

/** Where a bounded scan resumes: a SCAN cursor per master ("host:port"). */
export type ScanCursors = Record<string, string>;

const SCAN_COUNT = 500;
const SAMPLE = 20;

/**
 * Cleanup of this application's cache keys without the cache engine (the CLI and the scheduled job use it): SCAN on
 * every master over the entry prefix, envelopes decoded, tag versions read from their keys. Deletes are
 * check-and-delete (an entry rewritten meanwhile survives). Never KEYS, never FLUSHDB.
 */
export class CacheMaintenance {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeyBuilder,
  ) {}

  /**
   * Removes entries invalidated since they were built and entries past grace still held, examining at most
   * `maxKeys` keys (resuming from `cursors`, updated in place). `dryRun` removes nothing.
   */
  async expired(options: {
    dryRun: boolean;
    maxKeys?: number;
    cursors?: ScanCursors;
    now?: number;
  }): Promise<CleanupReport> {
    const report = emptyReport("expired", options.dryRun);
    const started = performance.now();
    const now = options.now ?? Date.now();
    report.truncated = !(await this.scan(
      this.keys.allEntriesPattern(),
      options.maxKeys,
      options.cursors,
      async (batch, node) => {
        report.scanned += batch.length;
        const raws = await this.readRaw(node, batch);
        const envelopes = raws.map((raw) => decodeEnvelope(raw));
        const versions = await this.tagVersions(envelopes);
        await Promise.all(
          batch.map(async (key, index) => {
            const envelope = envelopes[index];
            const raw = raws[index];
            if (!envelope || raw === null || raw === undefined) return;
            const invalidated = invalidatedSince(envelope, versions);
            const pastGrace = !invalidated && envelope.graceUntil < now;
            if (!invalidated && !pastGrace) return;
            if (await this.remove(node, key, raw, report)) {
              if (invalidated) report.invalidated += 1;
              else report.pastGrace += 1;
            }
          }),
        );
      },
    ));
    report.durationMs = Math.round(performance.now() - started);
    return report;
  }

  /** Removes stampede locks that have no expiry (orphaned); locks with a TTL expire by themselves and are kept. */
  async locks(options: { dryRun: boolean }): Promise<CleanupReport & { held: number }> {
    const report = { ...emptyReport("locks", options.dryRun), held: 0 };
    const started = performance.now();
    const pattern = `${escapeGlob(`${this.keys.lockPrefix()}:lock:`)}*`;
    await this.scan(pattern, undefined, undefined, async (batch, node) => {
      report.scanned += batch.length;
      const ttls = await Promise.all(batch.map((key) => node.pttl(key)));
      for (const [index, key] of batch.entries()) {
        const ttl = ttls[index]!;
        if (ttl === -2) continue; // expired between SCAN and PTTL
        if (ttl > 0) {
          report.held += 1;
          continue;
        }
        report.orphanedLocks += 1;
        if (report.sample.length < SAMPLE) report.sample.push(key);
        if (!options.dryRun)
          report.deleted += await node.unlink(key).catch(() => {
            report.failed += 1;
            return 0;
          });
      }
    });
    report.durationMs = Math.round(performance.now() - started);
    return report;
  }

  /** Keys of this application's cache entries right now (every master). */
  async countEntries(): Promise<number> {
    let count = 0;
    await this.scan(this.keys.allEntriesPattern(), undefined, undefined, (batch) => {
      count += batch.length;
    });
    return count;
  }

  private async remove(node: Redis, key: string, raw: string, report: CleanupReport): Promise<boolean> {
    if (report.dryRun) {
      report.bytes += Buffer.byteLength(raw);
      if (report.sample.length < SAMPLE) report.sample.push(key);
      return true;
    }
    try {
      const sha1 = createHash("sha1").update(raw).digest("hex");
      if (Number(await UNLINK_IF_UNCHANGED.run(node, [key], [sha1])) !== 1) return false;
    } catch {
      report.failed += 1;
      return false;
    }
    report.deleted += 1;
    report.bytes += Buffer.byteLength(raw);
    if (report.sample.length < SAMPLE) report.sample.push(key);
    return true;
  }

  /** SCAN every master; false when it stopped at `maxKeys` (cursors then hold where to go on). */
  private async scan(
    match: string,
    maxKeys: number | undefined,
    cursors: ScanCursors | undefined,
    onBatch: (keys: string[], node: Redis) => Promise<void> | void,
  ): Promise<boolean> {
    const masters = scanTargets(this.redis);
    if (masters.length === 0) throw new Error("no Redis master is known (the cluster is unreachable)");
    let seen = 0;
    for (const node of masters) {
      const id = nodeId(node);
      let cursor = cursors?.[id] ?? "0";
      if (cursor === "done") continue;
      do {
        const [next, batch] = await node.scan(cursor, "MATCH", match, "COUNT", SCAN_COUNT);
        cursor = next;
        if (batch.length > 0) await onBatch(batch, node);
        seen += batch.length;
        if (cursors) cursors[id] = cursor === "0" ? "done" : cursor;
        if (maxKeys !== undefined && seen >= maxKeys && cursor !== "0") return false;
      } while (cursor !== "0");
    }
    // A full pass: the next one starts over.
    if (cursors) for (const id of Object.keys(cursors)) delete cursors[id];
    return true;
  }

  private async readRaw(node: Redis, batch: string[]): Promise<(string | null)[]> {
    if (!this.redis.isCluster) return node.mget(...batch);
    const results = await node.pipeline(batch.map((key) => ["get", key])).exec();
    return (results ?? []).map(([error, value]) => (error ? null : (value as string | null)));
  }

  /** Current version of every tag the envelopes carry (a missing version key is version 0). */
  private async tagVersions(envelopes: (CacheEnvelope | undefined)[]): Promise<Map<string, number>> {
    const tags = new Set<string>();
    for (const envelope of envelopes) if (envelope) for (const tag in envelope.tags) tags.add(tag);
    const list = [...tags];
    const values = await Promise.all(list.map((tag) => this.redis.get(this.keys.tagVersion(tag))));
    return new Map(list.map((tag, index) => [tag, Number(values[index] ?? 0)]));
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

function emptyReport(kind: CleanupReport["kind"], dryRun: boolean): CleanupReport {
  return {
    kind,
    dryRun,
    scanned: 0,
    invalidated: 0,
    pastGrace: 0,
    orphanedLocks: 0,
    deleted: 0,
    bytes: 0,
    failed: 0,
    truncated: false,
    sample: [],
    durationMs: 0,
  };
}
