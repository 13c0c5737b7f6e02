import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../../redis/redis-connections.ts";
import type { CircuitBreaker } from "./circuit-breaker.ts";
import type { NodeBreakers } from "./node-breakers.ts";
import { CircuitOpenError } from "./resilience-errors.ts";
import type { StatsPort } from "../cache-ports.ts";
import { WriteCoalescer } from "./write-coalescer.ts";
import { DeadlineWatch } from "./deadline-watch.ts";
import { GetBatcher } from "./get-batcher.ts";

/** What a call is routed by: a key (its slot's master), a node connection, or nothing (any node). */
export type CallRoute = string | Redis | undefined;

/**
 * The one door to Redis for the cache engine: every call passes the circuit breaker of the master it goes to
 * (refused at once while that breaker is open, see node-breakers.ts), is bounded by a timeout, and has its latency
 * recorded. Callers decide how to fail open. `call` serves every command; `sendGet` + `succeeded`/`failed` are the
 * hit path's split form of the same thing, so a read needs no wrapper promise of its own (see shared-reads.ts).
 */
export class RedisGateway {
  /**
   * Calls are bounded here (`NodeBreakers.bound`: the call timeout, and a silent node failed at once) when the
   * connection has no command timeout, and always on a cluster.
   */
  private readonly boundsCalls: boolean;
  private readonly coalescer: WriteCoalescer;
  /** Sends hit-path GETs on a plain single-node connection (undefined: they go through `client.get`). */
  private readonly batcher: GetBatcher | undefined;

  constructor(
    readonly client: RedisClient,
    /** One breaker per master (or one shared), see node-breakers.ts. */
    readonly breakers: NodeBreakers,
    private readonly stats: StatsPort,
    fallbackTimeoutMs: number,
  ) {
    const commandTimeout = connectionCommandTimeout(client);
    // A cluster connection queues commands while it refreshes its slot map (a failover), and the per-node
    // commandTimeout only starts once a node is sent the command: bound cluster calls here too.
    this.boundsCalls = commandTimeout === undefined || (client as Cluster).isCluster === true;
    this.coalescer = new WriteCoalescer(client);
    this.batcher = sendsPlainCommands(client)
      ? new GetBatcher(client as Redis, new DeadlineWatch(commandTimeout ?? fallbackTimeoutMs), this.coalescer)
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

  /** The breaker a call on `route` passes (a key: the master owning its slot now). */
  breakerFor(route: CallRoute): CircuitBreaker {
    if (route === undefined) return this.breakers.unrouted();
    return typeof route === "string" ? this.breakers.forKey(route) : this.breakers.forNode(route);
  }

  /** True while the breaker of `key`'s master is open: a call on it would be refused. */
  isOpenFor(key: string): boolean {
    return this.breakers.forKey(key).state === "open";
  }

  /**
   * Runs one Redis call through the breaker of the node it goes to (`route`: the key it is about, the node
   * connection it uses, or nothing for any node); rejects with CircuitOpenError without calling Redis while open.
   */
  call<T>(fn: (client: RedisClient) => Promise<T>, route?: CallRoute): Promise<T> {
    const breaker = this.breakerFor(route);
    if (!breaker.allowRequest()) return Promise.reject(new CircuitOpenError(breaker.retryAt()));
    const epoch = breaker.epoch;
    const started = performance.now();
    let pending: Promise<T>;
    try {
      this.coalescer.beforeCommand();
      pending = this.bounded(breaker, fn(this.client));
    } catch (error) {
      this.failed(breaker, started, error, epoch);
      return Promise.reject(error);
    }
    return pending.then(
      (result) => {
        this.succeeded(breaker, started, epoch);
        return result;
      },
      (error: unknown) => {
        this.failed(breaker, started, error, epoch);
        throw error;
      },
    );
  }

  /**
   * Sends `GET key` through `breaker` (`breakerFor(key)`) and returns its reply promise; the caller must report the
   * outcome to `succeeded` or `failed` with that breaker, `started` (the `performance.now()` it read just before)
   * and the breaker's `epoch` read right after this call. Throws CircuitOpenError synchronously (nothing sent,
   * nothing to report).
   */
  sendGet(key: string, started: number, breaker: CircuitBreaker): Promise<string | null> {
    if (!breaker.allowRequest()) throw new CircuitOpenError(breaker.retryAt());
    if (this.batcher !== undefined) return this.batcher.get(key, started); // it tells the coalescer itself
    this.coalescer.beforeCommand();
    return this.bounded(breaker, this.client.get(key));
  }

  /** Records a call that answered, started at `started` (performance.now()) in `breaker`'s epoch `epoch`. */
  succeeded(breaker: CircuitBreaker, started: number, epoch: number): void {
    breaker.recordSuccess(epoch);
    this.stats.observeRedisLatency(performance.now() - started);
  }

  /** Records a call that failed, started at `started` (performance.now()) in `breaker`'s epoch `epoch`. */
  failed(breaker: CircuitBreaker, started: number, error: unknown, epoch: number): void {
    breaker.recordFailure(error, epoch);
    this.stats.recordError();
    this.stats.observeRedisLatency(performance.now() - started);
  }

  /** The master nodes to SCAN: every master of a cluster, or the single node. */
  masters(): Redis[] {
    return this.isCluster ? (this.client as Cluster).nodes("master") : [this.client as Redis];
  }

  private bounded<T>(breaker: CircuitBreaker, pending: Promise<T>): Promise<T> {
    return this.boundsCalls ? this.breakers.bound(breaker, pending, "redis command") : pending;
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
  const options = (client as Cluster).isCluster ? (client as Cluster).options.redisOptions : (client as Redis).options;
  return options?.commandTimeout;
}
