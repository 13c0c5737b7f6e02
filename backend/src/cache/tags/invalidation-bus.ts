import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { withTimeout } from "../../lib/with-timeout.ts";
import type { RedisClient } from "../../redis/redis-connections.ts";
import type { KeyBuilder } from "../keys/key-builder.ts";
import { PUBLISH_SEQUENCED } from "../transport/lua-script.ts";
import type { RedisGateway } from "../transport/redis-gateway.ts";
import type { TagVersionStore } from "./tag-version-store.ts";

/** Beats that may be unanswered at once before the next one is skipped (a slow Redis must not collect them). */
const MAX_BEATS_IN_FLIGHT = 4;

/** A ping sent and not yet echoed, with its beat's heartbeat write. */
interface PendingPing {
  /** performance.now() before the heartbeat was written. */
  sentAt: number;
  /** Whether the beat's heartbeat (ZADD) was written: undefined while its reply is pending. */
  registered: boolean | undefined;
  /** The ping came back on the bus. */
  echoed: boolean;
  /** The bus's reset count when the ping came back. */
  resetsAtEcho: number;
}

/** A message on the bus. */
type BusMessage =
  | { t: "i"; from: string; id: string; v: Record<string, number>; s?: Record<string, number> } // tag invalidation with the new versions (s: soft, each tag's version before it)
  | { t: "p"; from: string; n: number } // ping: proves the sender has seen everything published before it
  | { t: "k"; from: string; keys: string[] } // these entry keys were overwritten or deleted (L1 coherence)
  | { t: "f"; from: string; key: string }; // this key was just filled by a lock holder (wakes waiters)

/** Options of the bus. */
export interface InvalidationBusOptions {
  gateway: RedisGateway;
  /** Connection used only for SUBSCRIBE. */
  subscriber: RedisClient;
  keys: KeyBuilder;
  tagStore: TagVersionStore;
  instanceId: string;
  /** W: the longest an invalidation waits for acknowledgements; the local map is trusted for W/2 after a ping. */
  windowMs: number;
  /** An instance whose heartbeat is older than this is not waited for. */
  liveWindowMs: number;
}

/**
 * The invalidation protocol (docs/cache.md, "Tag invalidation"). All bus messages go through one Lua script that
 * numbers them, so every subscriber sees one total order and notices any gap (then it forgets its tag map).
 * Each instance registers in a ZSET, and every W/4 it refreshes that heartbeat and publishes a ping; receiving its
 * own ping sent at P proves it has applied every invalidation published before P, so it trusts its local tag map
 * until P + W/2. An invalidation resolves once every live instance has acknowledged it, or W after publishing:
 * by then any instance that has not applied it has also stopped trusting its map.
 *
 * Events: "trusted" (the local map became trusted), "reset" (messages may have been lost), "keys" (string[] of full keys changed elsewhere),
 * "filled" (full key), "invalidated" (tags).
 */
export class InvalidationBus extends EventEmitter {
  private readonly channel: string;
  private readonly ackChannel: string;
  private lastSequence: number | undefined;
  private pingNumber = 0;
  private readonly pingsInFlight = new Map<number, PendingPing>();
  private readonly ackWaiters = new Map<string, (from: string) => void>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private beatsInFlight = 0;
  /** Resets of the tag map so far: an echo received before one grants no trust after it. */
  private resets = 0;
  private beats = 0;
  private closed = false;
  /** Round trip of the last own ping, ms (for stats). */
  lastPingRoundTripMs: number | undefined;

  constructor(private readonly options: InvalidationBusOptions) {
    super();
    this.channel = options.keys.busChannel();
    this.ackChannel = options.keys.ackChannel(options.instanceId);
    this.onMessage = this.onMessage.bind(this);
  }

  /** This instance's id. */
  get instanceId(): string {
    return this.options.instanceId;
  }

  /** Subscribes and starts the heartbeat; never throws (until subscribed, the instance simply stays untrusted). */
  start(): void {
    this.options.subscriber.on("message", this.onMessage);
    this.options.subscriber.subscribe(this.channel, this.ackChannel).catch(() => undefined);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(10, Math.floor(this.options.windowMs / 4)));
    this.heartbeatTimer.unref();
    void this.heartbeat();
  }

  /** Publishes the new versions (of a soft bump from `softFrom` if given) and resolves when every live instance applied them, or after W. */
  async announceInvalidation(versions: Record<string, number>, softFrom?: Record<string, number>): Promise<{ acked: number; waitedForAll: boolean }> {
    const id = randomBytes(8).toString("hex");
    const acked = new Set<string>();
    let wake: (() => void) | undefined;
    let expected: Set<string> | undefined;
    const allIn = () => expected !== undefined && [...expected].every((instance) => acked.has(instance));
    this.ackWaiters.set(id, (from) => {
      acked.add(from);
      if (allIn()) wake?.();
    });
    try {
      await this.publish(softFrom ? { t: "i", from: this.options.instanceId, id, v: versions, s: softFrom } : { t: "i", from: this.options.instanceId, id, v: versions });
      const deadline = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.windowMs);
        timer.unref();
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      // Read the live set only after publishing: an instance registering later subscribed after the publish
      // too, so it can only hold versions read after the bump.
      expected = await this.liveInstances().catch(() => undefined);
      if (expected) expected.delete(this.options.instanceId);
      if (allIn()) wake?.();
      await deadline;
      return { acked: acked.size, waitedForAll: allIn() };
    } finally {
      this.ackWaiters.delete(id);
    }
  }

  /** Tells other instances that these entry keys changed (fire and forget; bounded by the trust window). */
  announceKeys(fullKeys: string[]): Promise<void> {
    return this.publish({ t: "k", from: this.options.instanceId, keys: fullKeys }).catch(() => undefined);
  }

  /** Wakes other instances waiting for `fullKey` to be filled by this lock holder. */
  announceFilled(fullKey: string): Promise<void> {
    return this.publish({ t: "f", from: this.options.instanceId, key: fullKey }).catch(() => undefined);
  }

  /** Instance ids whose heartbeat is recent. */
  async liveInstances(): Promise<Set<string>> {
    const since = Date.now() - this.options.liveWindowMs;
    const instances = this.options.keys.instances();
    const ids = await this.options.gateway.call((c) => c.zrangebyscore(instances, since, "+inf"), instances);
    return new Set(ids);
  }

  /** Stops the heartbeat, leaves the registry and unsubscribes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    this.options.tagStore.trustedUntil = 0;
    this.options.tagStore.registeredUntil = 0;
    this.options.subscriber.off("message", this.onMessage);
    // Bounded: a subscriber that never connected would hold an UNSUBSCRIBE in its offline queue forever.
    await Promise.allSettled([
      this.options.gateway.call((c) => c.zrem(this.options.keys.instances(), this.options.instanceId), this.options.keys.instances()),
      withTimeout(this.options.subscriber.unsubscribe(this.channel, this.ackChannel), 1_000, "unsubscribe"),
    ]);
  }

  /**
   * One beat: write the heartbeat, then publish a ping; trust comes from the ping's echo, and only once the
   * heartbeat of the same beat is confirmed written (see `onOwnPing`). On a single node both go on the same
   * connection, so the ping is sent without waiting for the ZADD's reply (Redis runs them in order); on a cluster
   * they go to different masters and the ping waits. Beats overlap instead of skipping while one is slow: under
   * load the event loop lags, and a skipped beat let trust lapse, so every read then took the untrusted path (one
   * more script call each) exactly when the process was busiest.
   */
  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    // Not connected (yet, or any more): the ZADD could only fail, counting a Redis error and a breaker failure for
    // every beat (and one at every start, before the connection is up). No ping then, so trust lapses by itself.
    if (!this.options.gateway.isConnected()) return;
    // A slow Redis must not collect beats: a few unanswered ones at most.
    if (this.beatsInFlight >= MAX_BEATS_IN_FLIGHT) return;
    this.beatsInFlight += 1;
    try {
      // Taken before the heartbeat is written: trust derived from this ping never outlives the registration.
      const sentAt = performance.now();
      const instances = this.options.keys.instances();
      const n = ++this.pingNumber;
      const beat: PendingPing = { sentAt, registered: undefined, echoed: false, resetsAtEcho: 0 };
      this.pingsInFlight.set(n, beat);
      // Pings that never come back (subscriber down) must not pile up: only recent ones can grant trust anyway.
      if (this.pingsInFlight.size > 32) this.pingsInFlight.delete(this.pingsInFlight.keys().next().value!);
      const registering = this.options.gateway.call((c) => c.zadd(instances, Date.now(), this.options.instanceId), instances).then(
        () => {
          // Registered as live from sentAt on: versions fetched from now on may vouch for themselves until then + W/2.
          const registeredUntil = sentAt + this.options.windowMs / 2;
          if (registeredUntil > this.options.tagStore.registeredUntil) this.options.tagStore.registeredUntil = registeredUntil;
          this.registered(beat, true);
        },
        (error: unknown) => {
          this.registered(beat, false);
          throw error;
        },
      );
      if (this.options.gateway.isCluster) await registering;
      else registering.catch(() => undefined);
      const pinging = this.publish({ t: "p", from: this.options.instanceId, n });
      await Promise.all([registering, pinging]);
      this.beats += 1;
      if (this.beats % 64 === 0) {
        // Forget instances gone for a minute (crashed without close()).
        await this.options.gateway.call((c) => c.zremrangebyscore(instances, "-inf", Date.now() - 60_000), instances);
      }
    } catch {
      // Redis down: no ping arrives (or its heartbeat failed), so the local map stops being trusted by itself.
    } finally {
      this.beatsInFlight -= 1;
    }
  }

  /** The heartbeat of `beat` was written (or failed): an echo that arrived first grants its trust now. */
  private registered(beat: PendingPing, ok: boolean): void {
    beat.registered = ok;
    if (ok && beat.echoed) this.trustFrom(beat);
  }

  private async publish(message: BusMessage): Promise<void> {
    const payload = JSON.stringify(message);
    const sequence = this.options.keys.busSequence();
    await this.options.gateway.call((c) => PUBLISH_SEQUENCED.run(c, [sequence], [this.channel, payload]), sequence);
  }

  private onMessage(channel: string, raw: string): void {
    if (channel === this.ackChannel) {
      const [id, from] = raw.split("|");
      if (id && from) this.ackWaiters.get(id)?.(from);
      return;
    }
    if (channel !== this.channel) return;
    const bar = raw.indexOf("|");
    const sequence = Number(raw.slice(0, bar));
    let message: BusMessage;
    try {
      message = JSON.parse(raw.slice(bar + 1)) as BusMessage;
    } catch {
      return;
    }
    if (this.lastSequence === undefined || sequence !== this.lastSequence + 1) {
      // First message since subscribing, a gap, or a restarted Redis: something may have been missed.
      this.resets += 1;
      this.options.tagStore.reset();
      this.emit("reset");
    }
    this.lastSequence = sequence;
    const self = message.from === this.options.instanceId;
    switch (message.t) {
      case "i":
        this.options.tagStore.apply(message.v, message.s);
        this.emit("invalidated", Object.keys(message.v));
        if (!self) {
          this.options.gateway
            .call((c) => c.publish(this.options.keys.ackChannel(message.from), `${message.id}|${this.options.instanceId}`))
            .catch(() => undefined);
        }
        break;
      case "p":
        if (self) this.onOwnPing(message.n);
        break;
      case "k":
        if (!self) this.emit("keys", message.keys);
        break;
      case "f":
        this.emit("filled", message.key);
        break;
    }
  }

  private onOwnPing(n: number): void {
    const beat = this.pingsInFlight.get(n);
    for (const pending of this.pingsInFlight.keys()) if (pending <= n) this.pingsInFlight.delete(pending);
    if (beat === undefined) return;
    this.lastPingRoundTripMs = performance.now() - beat.sentAt;
    beat.echoed = true;
    beat.resetsAtEcho = this.resets;
    // The echo may overtake the ZADD's reply (another socket): then `registered` grants the trust.
    if (beat.registered === true) this.trustFrom(beat);
  }

  /** Trusts the map until W/2 past the beat's send time, unless messages may have been lost since its echo (a reset after it). */
  private trustFrom(beat: PendingPing): void {
    if (this.closed || beat.resetsAtEcho !== this.resets) return;
    const until = beat.sentAt + this.options.windowMs / 2;
    const wasTrusted = this.options.tagStore.isTrusted();
    if (until > this.options.tagStore.trustedUntil) this.options.tagStore.trustedUntil = until;
    if (!wasTrusted && this.options.tagStore.isTrusted()) this.emit("trusted");
  }
}
