import { randomBytes } from "node:crypto";
import { mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { scanTargets } from "../cache/stats/scan-every-master.ts";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { HealthProbe } from "./health-check.ts";
import type { ReadinessCheck } from "./readiness-checks.ts";

/** A readiness check (throws when down) as a registry probe: the Redis and PostgreSQL checks plug in unchanged. */
export function probeOf(check: ReadinessCheck): () => Promise<HealthProbe | void> {
  return async () => {
    await check.check();
  };
}

/**
 * Redis memory: `used_memory` against `maxmemory` on every master (INFO memory). Degraded above `maxPercent`;
 * up with `maxmemory: 0` (unbounded) noted; down when INFO fails. Details carry percentages only, no addresses.
 */
export function redisMemoryProbe(client: RedisClient, maxPercent: number): () => Promise<HealthProbe> {
  return async () => {
    const nodes = scanTargets(client);
    if (nodes.length === 0) throw new Error("no Redis master is known");
    const readings = await Promise.all(
      nodes.map(async (node) => {
        const info = await node.info("memory");
        const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
        const max = Number(/maxmemory:(\d+)/.exec(info)?.[1] ?? 0);
        if (!Number.isFinite(used)) throw new Error("INFO memory has no used_memory");
        return { usedBytes: used, maxBytes: max, percent: max > 0 ? Math.round((used / max) * 10_000) / 100 : null };
      }),
    );
    const bounded = readings.filter((reading) => reading.percent !== null);
    const worst = bounded.sort((a, b) => b.percent! - a.percent!)[0];
    const details = {
      masters: readings.length,
      usedBytes: readings.reduce((sum, r) => sum + r.usedBytes, 0),
      worstPercent: worst?.percent ?? null,
      maxPercent,
    };
    if (!worst) return { details: { ...details, note: "maxmemory is not set" } };
    if (worst.percent! > maxPercent)
      return {
        status: "degraded",
        message: `Redis uses ${worst.percent}% of maxmemory (maximum ${maxPercent}%)`,
        details,
      };
    return { details };
  };
}

/** Thresholds of the process memory check. */
export interface ProcessMemoryThresholds {
  /** Resident set size above which the check is down, in bytes (HEALTH_MEMORY_RSS_MAX_MB). */
  rssMaxBytes: number;
  /** V8 heap used as % of its limit above which the check is down (HEALTH_MEMORY_HEAP_MAX_PERCENT). */
  heapMaxPercent: number;
}

/** Process memory: RSS and V8 heap used against their thresholds (real readings of this process). */
export function processMemoryProbe(
  thresholds: ProcessMemoryThresholds,
  heapLimitBytes: number,
): () => Promise<HealthProbe> {
  return async () => {
    const usage = process.memoryUsage();
    const heapPercent = Math.round((usage.heapUsed / heapLimitBytes) * 10_000) / 100;
    const details = {
      rssBytes: usage.rss,
      rssMaxBytes: thresholds.rssMaxBytes,
      heapUsedBytes: usage.heapUsed,
      heapPercent,
      heapMaxPercent: thresholds.heapMaxPercent,
    };
    const problems: string[] = [];
    if (usage.rss > thresholds.rssMaxBytes)
      problems.push(`RSS ${mib(usage.rss)} MiB above ${mib(thresholds.rssMaxBytes)} MiB`);
    if (heapPercent > thresholds.heapMaxPercent)
      problems.push(`heap at ${heapPercent}% of its limit (maximum ${thresholds.heapMaxPercent}%)`);
    if (problems.length > 0) throw Object.assign(new Error(problems.join("; ")), { details });
    return { details };
  };
}

/** Disk: writes a small file into `directory` (created if missing), reads it back and deletes it. */
export function diskProbe(directory: string): () => Promise<HealthProbe> {
  return async () => {
    await mkdir(directory, { recursive: true });
    const file = join(directory, `health-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
    const payload = `spywatcher health ${Date.now()}`;
    try {
      await writeFile(file, payload);
      if ((await readFile(file, "utf8")) !== payload)
        throw new Error("the file read back differs from what was written");
    } finally {
      await unlink(file).catch(() => undefined);
    }
    return { details: { bytes: payload.length } };
  };
}

function mib(bytes: number): number {
  return Math.round((bytes / 1_048_576) * 10) / 10;
}
