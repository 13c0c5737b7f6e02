import { getHeapStatistics } from "node:v8";
import type { AppConfig } from "../config/config.ts";
import type { PrismaClient } from "../db/prisma-client.ts";
import type { Cluster } from "ioredis";
import type { RedisClient } from "../redis/redis-connections.ts";
import { applicationProbe, type ApplicationCheckSources } from "./application-check.ts";
import type { HealthCheckDefinition, HealthProbe } from "./health-check.ts";
import { HealthRegistry } from "./health-registry.ts";
import { diskProbe, probeOf, processMemoryProbe, redisMemoryProbe } from "./infrastructure-checks.ts";
import { postgresReadinessCheck, redisReadinessCheck, type ReadinessCheck } from "./readiness-checks.ts";
import { redisClusterProbe } from "./redis-cluster-check.ts";

/** What the service's health registry checks. */
export interface ServiceHealthSources {
  redis: RedisClient;
  prisma: PrismaClient;
  /** The cache breaker's state, read in process. */
  breakerState: ApplicationCheckSources["breakerState"];
  /** The ingestion buffer, when the Discord side runs. */
  ingestBuffer?: ApplicationCheckSources["ingestBuffer"];
}

/** The service's registry and what must be stopped with it. */
export interface ServiceHealth {
  registry: HealthRegistry;
  /** The critical checks as readiness checks (through the registry and its cache), for the alert monitor. */
  readinessChecks: ReadinessCheck[];
  close(): void;
}

/**
 * Builds the registry from HEALTH_*: Redis (PING through `redisReadinessCheck` on a single node; every master and its
 * `cluster_state` on a cluster) and PostgreSQL (SELECT 1), Redis memory against maxmemory, disk (write, read, delete in
 * HEALTH_DISK_DIR), process memory (RSS, heap), application (event loop, ingestion buffer, breaker) and a composite
 * of the infrastructure checks. Critical: the names in HEALTH_CRITICAL_CHECKS (default redis, postgres).
 */
export function createServiceHealth(config: AppConfig, sources: ServiceHealthSources): ServiceHealth {
  const { health } = config;
  const registry = new HealthRegistry();
  const critical = new Set<string>(health.criticalChecks);
  const define = (
    name: string,
    group: string,
    priority: number,
    probe: () => Promise<HealthProbe | void>,
  ): HealthCheckDefinition => ({
    name,
    group,
    priority,
    probe,
    critical: critical.has(name),
    timeoutMs: health.checkTimeoutMs,
    retry: health.retry,
    cacheTtlMs: health.cacheTtlMs,
  });
  const application = applicationProbe({
    breakerState: sources.breakerState,
    ingestBuffer: sources.ingestBuffer,
    eventLoopDelayMaxMs: health.eventLoopDelayMaxMs,
    ingestBufferMaxPercent: config.alerts.ingestBufferMaxPercent,
  });
  registry
    .register(define("redis", "infrastructure", 100, redisProbe(sources.redis, health.checkTimeoutMs)))
    .register(define("postgres", "infrastructure", 100, probeOf(postgresReadinessCheck(sources.prisma))))
    .register(
      define(
        "redis-memory",
        "infrastructure",
        90,
        redisMemoryProbe(sources.redis, config.alerts.redisMemoryMaxPercent),
      ),
    )
    .register(define("disk", "infrastructure", 80, diskProbe(health.diskDir)))
    .register(
      define(
        "memory",
        "process",
        50,
        processMemoryProbe(
          { rssMaxBytes: health.rssMaxBytes, heapMaxPercent: health.heapMaxPercent },
          getHeapStatistics().heap_size_limit,
        ),
      ),
    )
    .register(define("application", "application", 30, application.probe))
    .register(define("composite", "composite", 10, compositeProbe(registry, ["redis", "postgres", "disk"])));
  return { registry, readinessChecks: readinessThrough(registry, ["redis", "postgres"]), close: application.close };
}

/**
 * The Redis check: PING on a single node; on a cluster every master with `CLUSTER INFO`, each bounded by 80% of the
 * check's timeout (redis-cluster-check.ts), its state in the body.
 */
function redisProbe(redis: RedisClient, checkTimeoutMs: number): () => Promise<HealthProbe | void> {
  if ((redis as Cluster).isCluster)
    return redisClusterProbe(redis as Cluster, Math.max(50, Math.floor(checkTimeoutMs * 0.8)));
  return probeOf(redisReadinessCheck(redis));
}

/** A composite check: down when one of `names` is down, degraded when one is degraded (their cached results). */
export function compositeProbe(registry: HealthRegistry, names: string[]): () => Promise<HealthProbe> {
  return async () => {
    const results = await Promise.all(names.map((name) => registry.run(name)));
    const down = results.filter((result) => result.status === "down").map((result) => result.name);
    const details = Object.fromEntries(results.map((result) => [result.name, result.status]));
    if (down.length > 0) throw new Error(`down: ${down.join(", ")}`);
    const degraded = results.filter((result) => result.status === "degraded").map((result) => result.name);
    return degraded.length > 0
      ? { status: "degraded", message: `degraded: ${degraded.join(", ")}`, details }
      : { details };
  };
}

/** Registry checks as readiness checks: each throws the registry's error when its check is down. */
export function readinessThrough(registry: HealthRegistry, names: string[]): ReadinessCheck[] {
  return names.map((name) => ({
    name,
    async check() {
      const result = await registry.run(name);
      if (result.status === "down") throw new Error(result.error ?? "down");
    },
  }));
}

/** A registry of plain readiness checks (each critical, one attempt, no cache): for apps built without one. */
export function registryOfReadinessChecks(checks: ReadinessCheck[], timeoutMs: number): HealthRegistry {
  const registry = new HealthRegistry();
  for (const check of checks) {
    registry.register({
      name: check.name,
      group: "infrastructure",
      priority: 100,
      critical: true,
      timeoutMs,
      retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
      cacheTtlMs: 0,
      probe: probeOf(check),
    });
  }
  return registry;
}
