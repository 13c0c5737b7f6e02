import calculateSlot from "cluster-key-slot";
import type { Cluster, Redis } from "ioredis";
import { withTimeout } from "../../lib/with-timeout.ts";
import type { RedisClient } from "../../redis/redis-connections.ts";
import { nodeId, slotOwners } from "./ioredis-internals.ts";
import { NodeCallWatch } from "./node-call-watch.ts";
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerStats,
  type CircuitState,
} from "./circuit-breaker.ts";

/** The id of the one node of a single-node connection. */
const SINGLE_NODE = "redis";
/** On a cluster, calls that name no key (or whose slot owner is not known yet). */
const UNROUTED = "cluster";
/** Two drops of a node's connection this close together mean it refuses connections (see `onNodeDropped`). */
const REFUSAL_WINDOW_MS = 1_000;
const STATE_RANK: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/** Options of `NodeBreakers`. */
export interface NodeBreakersOptions {
  /** A breaker shared by every node (one verdict for all of Redis), or the options each node's own breaker gets. */
  breaker: CircuitBreaker | CircuitBreakerOptions;
  /** Called on every state change of a node's breaker, with the node's id ("host:port", "redis" or "cluster"). */
  onNodeStateChange?: (node: string, from: CircuitState, to: CircuitState) => void;
  /** How often the node behind an open breaker is probed, ms (default 250). */
  probeIntervalMs?: number;
  /** Longest wait for one probe PING, ms (the command timeout). */
  probeTimeoutMs: number;
  /** Longest wait of a call bounded by `bound`, ms (default `probeTimeoutMs`). */
  callTimeoutMs?: number;
  /**
   * On a cluster with a breaker per master, a master that answers nothing for this long while the process keeps
   * reading has its breaker opened and its calls failed at once (default: half of `callTimeoutMs`; 0: only the
   * timeout), see node-call-watch.ts. A single node (or one shared breaker) is only timed out: it has no other
   * masters to keep serving, and a verdict would switch off the whole cache for one slow command.
   */
  silentAfterMs?: number;
}

/**
 * One circuit breaker per Redis master, chosen by the node that owns a key's slot at call time (docs/cache-resilience.md,
 * "Failure isolation per master"). A dead or frozen master opens only its own breaker: keys of the other masters keep
 * their cache. When a replica is promoted, the key's slot maps to the new master, whose breaker is closed, so its
 * keys hit again as soon as the client's slot map knows the promotion. While a breaker is open, its node is probed
 * every `probeIntervalMs` (a PING, and on a cluster a slot-map refresh) until it is closed again: a PONG ends the open
 * wait at once (the breaker turns half-open) or counts as a half-open trial, and a node that no longer owns any slot
 * has its breaker retired. So neither a restarted
 * single node nor a failover waits out a recovery wait that doubled while the node was gone.
 *
 * With a shared `CircuitBreaker` passed in, every call uses it (the behaviour before per-node breakers).
 */
export class NodeBreakers {
  private readonly shared: CircuitBreaker | undefined;
  private readonly breakerOptions: CircuitBreakerOptions;
  private readonly byNode = new Map<string, CircuitBreaker>();
  private readonly probes = new Map<string, NodeJS.Timeout>();
  private readonly probing = new Set<string>();
  private readonly probeIntervalMs: number;
  /** The one breaker of a single-node connection, once made (the hit path asks for it twice per read). */
  private only: CircuitBreaker | undefined;
  /** Opens and refusals of retired breakers, so the totals never go down. */
  private readonly retired = { opens: 0, rejected: 0 };
  private closed = false;
  /** performance.now() of the client's last slot-map refresh (ioredis's "refresh" event), whoever asked for it. */
  private lastRefreshAt = Number.NEGATIVE_INFINITY;
  private readonly onRefresh = () => {
    this.lastRefreshAt = performance.now();
  };
  private readonly watch: NodeCallWatch;
  /** When ioredis last dropped each node's connection ("-node"), performance.now(). */
  private readonly droppedAt = new Map<string, number>();
  /**
   * ioredis drops a node's connection when it closes ("-node"), and again each time a reconnection fails. A second
   * drop within a second, with no answer in between, means the node refuses connections (a killed process): while it
   * still serves slots its calls are judged a tick after they are sent instead of after `silentAfterMs`
   * (node-call-watch.ts). One drop alone (a connection closed by the server or a proxy) changes nothing.
   */
  private readonly onNodeDropped = (node: Redis) => {
    const id = nodeId(node);
    const now = performance.now();
    const before = this.droppedAt.get(id);
    this.droppedAt.set(id, now);
    if (before === undefined || now - before > REFUSAL_WINDOW_MS) return;
    const breaker = this.byNode.get(id);
    if (breaker !== undefined && ownsAnySlot(this.client as Cluster, id)) this.watch.connectionRefused(breaker);
  };

  constructor(
    private readonly client: RedisClient,
    private readonly options: NodeBreakersOptions,
  ) {
    this.shared = options.breaker instanceof CircuitBreaker ? options.breaker : undefined;
    this.breakerOptions = options.breaker instanceof CircuitBreaker ? {} : options.breaker;
    this.probeIntervalMs = options.probeIntervalMs ?? 250;
    this.watch = new NodeCallWatch({
      timeoutMs: options.callTimeoutMs ?? options.probeTimeoutMs,
      ...(options.silentAfterMs === undefined ? {} : { silentAfterMs: options.silentAfterMs }),
      // A breaker retired meanwhile (its node serves no slot any more) guards nothing: no verdict, no log line.
      onSilent: (breaker) => {
        for (const current of this.byNode.values()) if (current === breaker) return breaker.trip();
      },
    });
    if (this.isCluster) {
      client.on("refresh", this.onRefresh);
      if (!this.shared) client.on("-node", this.onNodeDropped);
    }
  }

  /**
   * `pending` (a call just sent through `breaker`, which the caller reports to it), bounded by the call timeout and
   * failed at once when its node is judged silent, which also opens that node's breaker (node-call-watch.ts): every
   * user of these breakers (the cache, the rate limiter) then stops waiting on that node after one such judgement.
   */
  bound<T>(breaker: CircuitBreaker, pending: Promise<T>, label: string): Promise<T> {
    // Judged: a master's calls on a cluster with a breaker per master. A cluster's calls without a key go to any
    // node, whose silence says nothing about one node; a single node or a shared breaker is only timed out.
    const judged = this.isCluster && !this.shared && breaker !== this.byNode.get(UNROUTED);
    return this.watch.bound(breaker, pending, label, judged);
  }

  /** The breaker guarding calls on `key`: that of the master owning its slot now (a single node: its one breaker). */
  forKey(key: string): CircuitBreaker {
    if (this.only !== undefined) return this.only;
    if (this.shared) return this.shared;
    if (!this.isCluster) {
      this.only = this.node(SINGLE_NODE);
      return this.only;
    }
    return this.node(slotOwners(this.client as Cluster)[calculateSlot(key)]?.[0] ?? UNROUTED);
  }

  /** The breaker guarding calls sent to one node connection (SCAN, INFO on each master). */
  forNode(node: Redis): CircuitBreaker {
    if (this.shared) return this.shared;
    if (!this.isCluster) return this.node(SINGLE_NODE);
    return this.node(nodeId(node));
  }

  /** The breaker guarding calls that name no key (on a cluster they go to any node). */
  unrouted(): CircuitBreaker {
    if (this.shared) return this.shared;
    return this.node(this.isCluster ? UNROUTED : SINGLE_NODE);
  }

  /** One summary for stats, metrics and alerts: the worst state of any node, counters summed, waits at their longest. */
  stats(): CircuitBreakerStats {
    if (this.shared) return this.shared.stats();
    const all = [...this.byNode.values()].map((breaker) => breaker.stats());
    const summary: CircuitBreakerStats = {
      state: "closed",
      consecutiveFailures: 0,
      openedAt: null,
      recoveryWaitMs: 0,
      opens: this.retired.opens,
      rejected: this.retired.rejected,
    };
    for (const one of all) {
      if (STATE_RANK[one.state] > STATE_RANK[summary.state]) summary.state = one.state;
      summary.consecutiveFailures = Math.max(summary.consecutiveFailures, one.consecutiveFailures);
      if (one.openedAt !== null) summary.openedAt = Math.max(summary.openedAt ?? 0, one.openedAt);
      summary.recoveryWaitMs = Math.max(summary.recoveryWaitMs, one.recoveryWaitMs);
      summary.opens += one.opens;
      summary.rejected += one.rejected;
    }
    return summary;
  }

  /** Each node's breaker by node id ("host:port" on a cluster, "cluster" for calls without a key; "redis" on one node). */
  nodeStats(): Record<string, CircuitBreakerStats> {
    if (this.shared) return { [this.isCluster ? UNROUTED : SINGLE_NODE]: this.shared.stats() };
    return Object.fromEntries([...this.byNode].map(([id, breaker]) => [id, breaker.stats()]));
  }

  /** The master connection serving `key`'s slot now (a single node: the connection itself); undefined if unknown. */
  masterFor(key: string): Redis | undefined {
    if (!this.isCluster) return this.client as Redis;
    const cluster = this.client as Cluster;
    const owner = slotOwners(cluster)[calculateSlot(key)]?.[0];
    return owner === undefined ? undefined : cluster.nodes("master").find((node) => nodeId(node) === owner);
  }

  /** Stops probing (the cache is closing). */
  close(): void {
    this.closed = true;
    this.client.off("refresh", this.onRefresh);
    this.client.off("-node", this.onNodeDropped);
    this.watch.close();
    for (const timer of this.probes.values()) clearInterval(timer);
    this.probes.clear();
  }

  private get isCluster(): boolean {
    return (this.client as Cluster).isCluster === true;
  }

  private node(id: string): CircuitBreaker {
    let breaker = this.byNode.get(id);
    if (breaker === undefined) {
      const own = this.breakerOptions.onStateChange;
      breaker = new CircuitBreaker({
        ...this.breakerOptions,
        onStateChange: (from, to) => {
          own?.(from, to);
          this.options.onNodeStateChange?.(id, from, to);
          if (to === "open") this.startProbing(id);
          else if (to === "closed") this.stopProbing(id);
        },
      });
      this.byNode.set(id, breaker);
    }
    return breaker;
  }

  private startProbing(id: string): void {
    if (this.closed || this.probes.has(id)) return;
    const timer = setInterval(() => void this.probe(id), this.probeIntervalMs);
    timer.unref();
    this.probes.set(id, timer);
    // The first probe at once: a node that was only slow for a moment (judged silent, or a burst of timeouts) is
    // half-open again as soon as it answers, not a whole interval later.
    void this.probe(id);
  }

  private stopProbing(id: string): void {
    clearInterval(this.probes.get(id));
    this.probes.delete(id);
  }

  private async probe(id: string): Promise<void> {
    const breaker = this.byNode.get(id);
    if (breaker === undefined || breaker.state === "closed") return this.stopProbing(id);
    if (this.probing.has(id)) return;
    let target: RedisClient | undefined = this.client;
    if (this.isCluster) {
      const cluster = this.client as Cluster;
      // Our own calls to this node's slots are refused while it is open, so ioredis would not learn of a promotion
      // from their errors: ask for the slot map (ioredis coalesces concurrent refreshes), unless it was refreshed
      // within the last interval anyway. Each refresh opens a connection and rebuilds a 16,384-slot table: during a
      // failover, refreshes asked for by every open breaker and by ioredis's own retries measured 10-24% of the
      // process's CPU (docs/cache-resilience.md).
      if (performance.now() - this.lastRefreshAt >= this.probeIntervalMs) cluster.refreshSlotsCache();
      if (id !== UNROUTED) {
        if (!ownsAnySlot(cluster, id)) return this.retire(id, breaker);
        target = cluster.nodes("master").find((node) => nodeId(node) === id);
        if (target === undefined) return;
      }
    }
    this.probing.add(id);
    try {
      await withTimeout(target.ping(), this.options.probeTimeoutMs, "breaker probe");
      breaker.probeSucceeded();
    } catch {
      // Still down: the breaker stays open and the next tick probes again.
    } finally {
      this.probing.delete(id);
    }
  }

  /** The node owns no slot any more (a replica took them over): its breaker guards nothing. */
  private retire(id: string, breaker: CircuitBreaker): void {
    this.stopProbing(id);
    this.droppedAt.delete(id);
    const { opens, rejected } = breaker.stats();
    this.byNode.delete(id);
    this.retired.opens += opens;
    this.retired.rejected += rejected;
    breaker.reset();
  }
}

/** Reply errors mean Redis answered (wrong type, bad script): not an outage, except these cluster/loading states. */
export function isRedisFailure(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== "ReplyError") return true;
  return /^(CLUSTERDOWN|LOADING|TRYAGAIN|MASTERDOWN|READONLY|BUSY)/.test(error.message);
}

/** True when `id` serves at least one slot, or when the slot map is empty (nothing known: keep the breaker). */
function ownsAnySlot(cluster: Cluster, id: string): boolean {
  let known = false;
  for (const owners of slotOwners(cluster)) {
    if (owners === undefined) continue;
    known = true;
    if (owners[0] === id) return true;
  }
  return !known;
}
