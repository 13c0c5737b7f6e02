import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../redis/redis-connections.ts";
import type { CircuitBreaker } from "./resilience/circuit-breaker.ts";
import { CircuitOpenError } from "./resilience/resilience-errors.ts";
import type { StatsPort } from "./cache-ports.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import { WriteCoalescer } from "./write-coalescer.ts";
import { DeadlineWatch } from "./deadline-watch.ts";
import { GetBatcher } from "./get-batcher.ts";

/**
 * The one door to Redis for the cache engine: every call passes the circuit breaker (refused at once while it is
 * open), is bounded by a timeout, and has its latency recorded. Callers decide how to fail open.
 * `call` serves every command; `sendGet` + `succeeded`/`failed` are the hit path's split form of the same thing,
 * so a read needs no wrapper promise of its own (see shared-reads.ts).
 */
export class RedisGateway {
  /** Extra per-call timeout: when the connection has no command timeout, and always on a cluster. */
  private readonly timeoutMs: number | undefined;
  private readonly coalescer: WriteCoalescer;
  /** Sends hit-path GETs on a plain single-node connection (undefined: they go through `client.get`). */
  private readonly batcher: GetBatcher | undefined;

  constructor(
    readonly client: RedisClient,
    readonly breaker: CircuitBreaker,
    private readonly stats: StatsPort,
    fallbackTimeoutMs: number,
  ) {
    const commandTimeout = connectionCommandTimeout(client);
    // A cluster connection queues commands while it refreshes its slot map (a failover), and the per-node
    // commandTimeout only starts once a node is sent the command: bound cluster calls here too.
    this.timeoutMs = commandTimeout === undefined || (client as Cluster).isCluster === true ? (commandTimeout ?? fallbackTimeoutMs) : undefined;
    this.coalescer = new WriteCoalescer(client);
    this.batcher = sendsPlainCommands(client)
      ? new GetBatcher(client as Redis, new DeadlineWatch(commandTimeout ?? fallbackTimeoutMs))
      : undefined;
  }

  /** True while the connection is up and ready for commands (ioredis status "ready"). */
  isConnected(): boolean {
    return this.client.status === "ready";
  }

  /** True for a Redis Cluster connection. */
  get isCluster(): boolean {
    return (this.client as Cluster).isCluster === true;
  }

  /** Runs one Redis call through the breaker; rejects with CircuitOpenError without calling Redis while open. */
  call<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.breaker.allowRequest()) return Promise.reject(new CircuitOpenError(this.breaker.retryAt()));
    const epoch = this.breaker.epoch;
    const started = performance.now();
    let pending: Promise<T>;
    try {
      this.coalescer.beforeCommand();
      pending = this.bounded(fn(this.client));
    } catch (error) {
      this.failed(started, error, epoch);
      return Promise.reject(error);
    }
    return pending.then(
      (result) => {
        this.succeeded(started, epoch);
        return result;
      },
      (error: unknown) => {
        this.failed(started, error, epoch);
        throw error;
      },
    );
  }

  /**
   * Sends `GET key` and returns its reply promise; the caller must report the outcome to `succeeded` or `failed`
   * with `started`, the `performance.now()` it read just before, and the breaker's `epoch` read right after this
   * call. Throws CircuitOpenError synchronously (nothing sent, nothing to report).
   */
  sendGet(key: string, started: number): Promise<string | null> {
    if (!this.breaker.allowRequest()) throw new CircuitOpenError(this.breaker.retryAt());
    this.coalescer.beforeCommand();
    if (this.batcher === undefined) return this.bounded(this.client.get(key));
    return this.batcher.get(key, started);
  }

  /** Records a call that answered, started at `started` (performance.now()) in breaker epoch `epoch`. */
  succeeded(started: number, epoch: number): void {
    this.breaker.recordSuccess(epoch);
    this.stats.observeRedisLatency(performance.now() - started);
  }

  /** Records a call that failed, started at `started` (performance.now()) in breaker epoch `epoch`. */
  failed(started: number, error: unknown, epoch: number): void {
    this.breaker.recordFailure(error, epoch);
    this.stats.recordError();
    this.stats.observeRedisLatency(performance.now() - started);
  }

  /** The master nodes to SCAN: every master of a cluster, or the single node. */
  masters(): Redis[] {
    return this.isCluster ? (this.client as Cluster).nodes("master") : [this.client as Redis];
  }

  private bounded<T>(pending: Promise<T>): Promise<T> {
    return this.timeoutMs === undefined ? pending : withTimeout(pending, this.timeoutMs, "redis command");
  }
}

/**
 * True for a single-node connection whose commands `client.get` builds with nothing but a reply encoding: no key
 * prefix, no captured stacks, no auto-pipelining. Only then may the gateway build its GETs itself.
 */
function sendsPlainCommands(client: RedisClient): boolean {
  if ((client as Cluster).isCluster === true) return false;
  const { keyPrefix, showFriendlyErrorStack, enableAutoPipelining } = (client as Redis).options;
  return !keyPrefix && !showFriendlyErrorStack && !enableAutoPipelining;
}

function connectionCommandTimeout(client: RedisClient): number | undefined {
  const options = (client as Cluster).isCluster
    ? (client as Cluster).options.redisOptions
    : (client as Redis).options;
  return options?.commandTimeout;
}
