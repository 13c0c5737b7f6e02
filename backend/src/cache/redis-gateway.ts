import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { CircuitBreaker } from "./resilience/circuit-breaker.ts";
import { CircuitOpenError } from "./resilience/resilience-errors.ts";
import type { StatsPort } from "./cache-ports.ts";
import { withTimeout } from "../lib/with-timeout.ts";

/**
 * The one door to Redis for the cache engine: every call passes the circuit breaker (refused at once while it is
 * open), is bounded by a timeout, and has its latency recorded. Callers decide how to fail open.
 */
export class RedisGateway {
  /** Extra per-call timeout, only when the connection itself has no command timeout. */
  private readonly timeoutMs: number | undefined;

  constructor(
    readonly client: RedisClient,
    readonly breaker: CircuitBreaker,
    private readonly stats: StatsPort,
    fallbackTimeoutMs: number,
  ) {
    this.timeoutMs = connectionCommandTimeout(client) === undefined ? fallbackTimeoutMs : undefined;
  }

  /** True for a Redis Cluster connection. */
  get isCluster(): boolean {
    return (this.client as Cluster).isCluster === true;
  }

  /** Runs one Redis call through the breaker; throws CircuitOpenError without calling Redis while open. */
  async call<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.breaker.allowRequest()) throw new CircuitOpenError(this.breaker.retryAt());
    const started = performance.now();
    try {
      const pending = fn(this.client);
      const result = await (this.timeoutMs === undefined ? pending : withTimeout(pending, this.timeoutMs, "redis command"));
      this.breaker.recordSuccess();
      return result;
    } catch (error) {
      this.breaker.recordFailure(error);
      this.stats.recordError();
      throw error;
    } finally {
      this.stats.observeRedisLatency(performance.now() - started);
    }
  }

  /** The master nodes to SCAN: every master of a cluster, or the single node. */
  masters(): Redis[] {
    return this.isCluster ? (this.client as Cluster).nodes("master") : [this.client as Redis];
  }
}

function connectionCommandTimeout(client: RedisClient): number | undefined {
  const options = (client as Cluster).isCluster
    ? (client as Cluster).options.redisOptions
    : (client as Redis).options;
  return options?.commandTimeout;
}
