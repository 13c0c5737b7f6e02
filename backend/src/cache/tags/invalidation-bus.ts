import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { withTimeout } from "../../lib/with-timeout.ts";
import type { RedisClient } from "../../redis/redis-connections.ts";
import type { KeyBuilder } from "../keys/key-builder.ts";
import { PUBLISH_SEQUENCED } from "../transport/lua-script.ts";
import type { RedisGateway } from "../transport/redis-gateway.ts";
import { AckCollector } from "./ack-collector.ts";
import { HeardInstances } from "./heard-instances.ts";
import type { TagVersionStore } from "./tag-version-store.ts";

/** Most heartbeats in flight at once (a slow Redis must not collect them). */
const MAX_BEATS_IN_FLIGHT = 4;

/** A message on the bus. */
type BusMessage =
  | { t: "i"; from: string; id: string; v: Record<string, number>; s?: Record<string, number> } // tag invalidation with the new versions (s: soft, each tag's version before it)
  | { t: "p"; from: string; n: number } // ping: proves the sender has seen everything published before it
  | { t: "l"; from: string } // the sender closed (it stopped trusting its map first): no longer waited for
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
 * Every W/4 each instance refreshes its heartbeat in two ZSETs (the registries, in slots apart, so one dead master
 * leaves one) and, independently of each other, publishes a ping;
 * receiving its own ping sent at P proves it has applied every invalidation published before P, so it trusts its
 * local tag map until P + W/2. An invalidation resolves W after publishing (by then any instance that has not
 * applied it has also stopped trusting its map), or earlier once both registries answered and every instance of their
 * live sets and
 * every instance heard pinging before it on the bus has acknowledged it, and no sooner than W/2 after the start
 * of the invalidator's unbroken view of the bus. The registry alone would not do: an instance whose registration
 * fails (its master is down) still pings and trusts its map (docs/cache.md, "Tag invalidation").
 *
 * Events: "trusted" (the local map became trusted), "reset" (messages may have been lost), "keys" (string[] of full keys changed elsewhere),
 * "filled" (full key), "invalidated" (tags).
 */
export class InvalidationBus extends EventEmitter {
  private readonly channel: string;
  private readonly ackChannel: string;
  /** The two registry keys (each its own slot). */
  private readonly registries: readonly [string, string];
  private lastSequence: number | undefined;
  private pingNumber = 0;
  private readonly pingsInFlight = new Map<number, number>();
  private readonly ackWaiters = new Map<string, (from: string) => void>();
  /** Invalidation id -> called when this instance's own message comes back on the bus, with who was heard before it. */
  private readonly echoWaiters = new Map<string, (heard: { ids: Set<string>; notBefore: number }) => void>();
  private readonly heard: HeardInstances;
  private heartbeatInFlight: Promise<unknown> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Beats whose registration or ping has not answered yet. */
  private beatsInFlight = 0;
  private beats = 0;
  private closed = false;
  /** Round trip of the last own ping, ms (for stats). */
  lastPingRoundTripMs: number | undefined;

  constructor(private readonly options: InvalidationBusOptions) {
    super();
    this.channel = options.keys.busChannel();
    this.ackChannel = options.keys.ackChannel(options.instanceId);
    this.registries = options.keys.registries();
    this.heard = new HeardInstances(options.windowMs);
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

  /**
   * Publishes the new versions (of a soft bump from `softFrom` if given) and resolves W after publishing, or earlier
   * once every live instance applied them: both registries' live sets and every instance heard pinging before this
   * message (all needed; otherwise W), and not before the invalidator's unbroken view of the bus is W/2 old.
   */
  async announceInvalidation(
    versions: Record<string, number>,
    softFrom?: Record<string, number>,
  ): Promise<{ acked: number; waitedForAll: boolean }> {
    const id = randomBytes(8).toString("hex");
    const acks = new AckCollector();
    this.ackWaiters.set(id, (from) => acks.ack(from));
    // Registered before publishing: the echo may arrive before the publish's reply does.
    const echo = new Promise<{ ids: Set<string>; notBefore: number }>((resolve) => this.echoWaiters.set(id, resolve));
    try {
      await this.publish(
        softFrom
          ? { t: "i", from: this.options.instanceId, id, v: versions, s: softFrom }
          : { t: "i", from: this.options.instanceId, id, v: versions },
      );
      acks.startWindow(this.options.windowMs);
      // The registries are read only after publishing, so they list every registration written before this message.
      // Without both answers (a registration may be in either) or without the echo (this instance's subscriber is
      // down, so it cannot know who pinged), nothing resolves early: W. Why each is needed: docs/cache.md, "Tag
      // invalidation".
      void Promise.all([this.liveInstances().catch(() => undefined), echo]).then(([registry, heard]) => {
        if (!registry) return;
        const expected = new Set([...registry, ...heard.ids]);
        expected.delete(this.options.instanceId);
        acks.expect(expected, heard.notBefore);
      });
      await acks.settled;
      return { acked: acks.ackCount, waitedForAll: acks.allAcked };
    } finally {
      acks.dispose();
      this.ackWaiters.delete(id);
      this.echoWaiters.delete(id);
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

  /** Instance ids whose heartbeat is recent in either registry (both read at once); rejects unless both answered. */
  async liveInstances(): Promise<Set<string>> {
    const since = Date.now() - this.options.liveWindowMs;
    const replies = await Promise.all(
      this.registries.map((registry) =>
        this.options.gateway.call((c) => c.zrangebyscore(registry, since, "+inf"), registry),
      ),
    );
    return new Set(replies.flat());
  }

  /** Stops the heartbeat, leaves both registries and the heard sets (a bus message) and unsubscribes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    this.options.tagStore.trustedUntil = 0;
    this.options.tagStore.registeredUntil = 0;
    this.options.subscriber.off("message", this.onMessage);
    // A ping still in flight would put this instance back in the others' heard sets after its leave message.
    if (this.heartbeatInFlight) await withTimeout(this.heartbeatInFlight, 1_000, "heartbeat").catch(() => undefined);
    // Bounded: a subscriber that never connected would hold an UNSUBSCRIBE in its offline queue forever.
    await Promise.allSettled([
      ...this.registries.map((registry) =>
        this.options.gateway.call((c) => c.zrem(registry, this.options.instanceId), registry),
      ),
      this.publish({ t: "l", from: this.options.instanceId }),
      withTimeout(this.options.subscriber.unsubscribe(this.channel, this.ackChannel), 1_000, "unsubscribe"),
    ]);
  }

  /**
   * One beat: a registration in each registry and a ping. Beats overlap (up to MAX_BEATS_IN_FLIGHT) rather than skip while one is slow:
   * under HTTP load the event loop lags, and a skipped beat let trust lapse, so every read took the untrusted path
   * (one more script call each) exactly when the process was busiest.
   */
  private async heartbeat(): Promise<void> {
    if (this.beatsInFlight >= MAX_BEATS_IN_FLIGHT || this.closed) return;
    // Not connected (yet, or any more): the ZADD could only fail, counting a Redis error and a breaker failure for
    // every beat (and one at every start, before the connection is up). No ping then, so trust lapses by itself.
    if (!this.options.gateway.isConnected()) return;
    this.beatsInFlight += 1;
    this.beats += 1;
    // Forget instances gone for a minute (crashed without close()), in each registry, every 64 beats.
    const prune = this.beats % 64 === 0;
    // Independent: a registry whose master is down must not silence the other registry nor the ping (invalidators
    // also count instances heard pinging), nor a silent bus the registrations (rule 6 then rests on them alone).
    const beat = Promise.allSettled([
      ...this.registries.map((registry) => this.register(registry, prune)),
      this.ping(),
    ]);
    this.heartbeatInFlight = beat;
    try {
      await beat;
    } finally {
      this.beatsInFlight -= 1;
    }
  }

  /**
   * Writes this instance's heartbeat into one registry; once either registry's ZADD returned, fetched versions vouch
   * until its send time + W/2 (an invalidator resolving early has read both, so it saw this registration).
   */
  private async register(registry: string, prune: boolean): Promise<void> {
    const sentAt = performance.now();
    await this.options.gateway.call((c) => c.zadd(registry, Date.now(), this.options.instanceId), registry);
    this.vouchFrom(sentAt);
    if (prune)
      await this.options.gateway.call((c) => c.zremrangebyscore(registry, "-inf", Date.now() - 60_000), registry);
  }

  /** Publishes a ping; its return grants trust (onOwnPing), its publication alone lets fetched versions vouch until its send time + W/2. */
  private async ping(): Promise<void> {
    const n = ++this.pingNumber;
    const sentAt = performance.now();
    this.pingsInFlight.set(n, sentAt);
    // Pings that never come back (subscriber down) must not pile up: only recent ones can grant trust anyway.
    if (this.pingsInFlight.size > 32) this.pingsInFlight.delete(this.pingsInFlight.keys().next().value!);
    await this.publish({ t: "p", from: this.options.instanceId, n });
    this.vouchFrom(sentAt);
  }

  /**
   * A heartbeat sent at `sentAt` reached Redis (a registration, or a ping now in the bus's order): until sentAt + W/2
   * no invalidation published later can resolve early without this instance's acknowledgement (rule 6).
   */
  private vouchFrom(sentAt: number): void {
    if (this.closed) return;
    const until = sentAt + this.options.windowMs / 2;
    if (until > this.options.tagStore.registeredUntil) this.options.tagStore.registeredUntil = until;
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
    const now = performance.now();
    if (this.lastSequence === undefined || sequence !== this.lastSequence + 1) {
      // First message since subscribing, a gap, or a restarted Redis: something may have been missed.
      this.heard.runBroken(now);
      this.options.tagStore.reset();
      this.emit("reset");
    }
    this.lastSequence = sequence;
    const self = message.from === this.options.instanceId;
    switch (message.t) {
      case "i":
        this.options.tagStore.apply(message.v, message.s);
        this.emit("invalidated", Object.keys(message.v));
        if (self) this.echoWaiters.get(message.id)?.(this.heard.snapshot(now, this.options.instanceId));
        else {
          this.options.gateway
            .call((c) =>
              c.publish(this.options.keys.ackChannel(message.from), `${message.id}|${this.options.instanceId}`),
            )
            .catch(() => undefined);
        }
        break;
      case "p":
        if (self) this.onOwnPing(message.n);
        else this.heard.heardPing(message.from, now);
        break;
      case "l":
        this.heard.left(message.from);
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
    const sentAt = this.pingsInFlight.get(n);
    for (const pending of this.pingsInFlight.keys()) if (pending <= n) this.pingsInFlight.delete(pending);
    if (sentAt === undefined) return;
    this.lastPingRoundTripMs = performance.now() - sentAt;
    const until = sentAt + this.options.windowMs / 2;
    const wasTrusted = this.options.tagStore.isTrusted();
    if (until > this.options.tagStore.trustedUntil) this.options.tagStore.trustedUntil = until;
    if (!wasTrusted && this.options.tagStore.isTrusted()) this.emit("trusted");
  }
}
