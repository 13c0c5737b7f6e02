import { randomBytes } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { LockNotAcquiredError } from "../transport/resilience-errors.ts";
import { escapeGlob, scanEveryMaster } from "../stats/scan-every-master.ts";
import { RELEASE_IF_OWNER, EXTEND_IF_OWNER } from "./lock-scripts.ts";
import { backoffDelayMs, sleep, type BackoffPolicy } from "../../lib/retry.ts";

/** Options of a `DistributedLock`. */
export interface DistributedLockOptions {
  /** Namespace of the lock keys: a lock `name` lives at `<prefix>:lock:<name>`. */
  prefix: string;
}

/** How `acquire` waits for a lock that is held. */
export interface AcquireOptions {
  /** Attempts after the first (default 5; 0 tries once). */
  retries?: number;
  /** Delay before the first retry in ms, doubled after each (default 50). Each delay is jittered to 50-100%. */
  retryDelayMs?: number;
  /** Ceiling of one retry delay in ms (default 1,000). */
  maxRetryDelayMs?: number;
  /** Stops waiting: `acquire` rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `withLock`. */
export interface WithLockOptions extends AcquireOptions {
  /** Keep extending the lock by `ttlMs` every `ttlMs / 3` while `fn` runs (default true). */
  autoExtend?: boolean;
}

/** A lock this process holds. */
export interface LockHandle {
  /** The lock's name (as passed to `acquire`). */
  readonly name: string;
  /** The Redis key holding the lock. */
  readonly key: string;
  /** This holder's random token; only it can release or extend the lock. */
  readonly token: string;
  /** Aborted when the lock is known to be lost (an auto-extension found another owner or none). */
  readonly signal: AbortSignal;
  /** Deletes the lock if this holder still owns it (Lua check-and-delete); false if it had expired or moved on. */
  release(): Promise<boolean>;
  /** Resets the lock's TTL to `ttlMs` if this holder still owns it; false otherwise. */
  extend(ttlMs: number): Promise<boolean>;
}

/** A lock plus the internal hook that aborts its `signal`. */
interface HeldLock {
  lock: LockHandle;
  markLost: (why: string) => void;
}

const DEFAULT_RETRIES = 5;
const DEFAULT_RETRY_DELAY_MS = 50;
const DEFAULT_MAX_RETRY_DELAY_MS = 1_000;

/**
 * A Redis lock (SET NX PX with a random token; release and extend by Lua only if the token still matches) that
 * works on a single node and on a cluster (one key per lock). Usable on its own, given an ioredis connection.
 *
 * It is a best-effort mutual exclusion for efficiency (one process computes a value while others wait), not a
 * correctness guarantee: if a holder stalls past its TTL, another may acquire the lock.
 */
export class DistributedLock {
  private readonly keyBase: string;
  private held = 0;

  /** Locks this process took and has not released yet (the `cache_active_locks` gauge). */
  get heldCount(): number {
    return this.held;
  }

  constructor(
    private readonly redis: Redis | Cluster,
    options: DistributedLockOptions,
  ) {
    if (!options.prefix) throw new RangeError("DistributedLock needs a non-empty prefix");
    this.keyBase = `${options.prefix}:lock:`;
  }

  /** The Redis key of lock `name`. */
  keyOf(name: string): string {
    if (!name) throw new RangeError("a lock name must not be empty");
    return this.keyBase + name;
  }

  /**
   * Tries to take lock `name` for `ttlMs`, retrying with exponential backoff and jitter while another holds it.
   * Resolves to a handle, or null when it is still held after the last retry. Redis errors reject.
   */
  async acquire(name: string, ttlMs: number, options: AcquireOptions = {}): Promise<LockHandle | null> {
    return (await this.take(name, ttlMs, options))?.lock ?? null;
  }

  /**
   * Runs `fn` while holding lock `name` and always releases it afterwards, even when `fn` throws. Throws
   * `LockNotAcquiredError` (E_LOCK_NOT_ACQUIRED) if the lock stays held by another. With `autoExtend` (default),
   * the lock is extended while `fn` runs; if it is lost anyway, `lock.signal` aborts, and `fn` may stop early.
   */
  async withLock<T>(
    name: string,
    ttlMs: number,
    fn: (lock: LockHandle) => Promise<T>,
    options: WithLockOptions = {},
  ): Promise<T> {
    const held = await this.take(name, ttlMs, options);
    if (!held) throw new LockNotAcquiredError(name);
    const { lock } = held;
    const stopExtending = options.autoExtend === false ? () => undefined : this.keepExtending(held, ttlMs);
    try {
      return await fn(lock);
    } finally {
      stopExtending();
      // If Redis is unreachable now, the lock still expires by its TTL; the caller's result matters more.
      await lock.release().catch(() => false);
    }
  }

  /** Whether lock `name` is held by anyone right now. */
  async isLocked(name: string): Promise<boolean> {
    return (await this.redis.exists(this.keyOf(name))) === 1;
  }

  /** How many locks under this prefix are held right now (SCAN on every master; never KEYS). */
  async activeCount(): Promise<number> {
    let count = 0;
    await scanEveryMaster(this.redis, `${escapeGlob(this.keyBase)}*`, (keys) => {
      count += keys.length;
    });
    return count;
  }

  /** SET NX PX with retries; the held lock plus the hook that marks it lost, or null. */
  private async take(name: string, ttlMs: number, options: AcquireOptions): Promise<HeldLock | null> {
    const key = this.keyOf(name);
    const ttl = validTtl(ttlMs);
    const retries = options.retries ?? DEFAULT_RETRIES;
    const maxDelay = options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
    // Jitter (50-100% of the step) so contenders that failed together do not retry in lockstep.
    const backoff: BackoffPolicy = {
      initialMs: options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
      maxMs: maxDelay,
      jitter: 0.5,
    };
    const token = randomBytes(16).toString("hex");
    for (let attempt = 0; ; attempt += 1) {
      options.signal?.throwIfAborted();
      if ((await this.redis.set(key, token, "PX", ttl, "NX")) === "OK") return this.handle(name, key, token);
      if (attempt >= retries) return null;
      await sleep(backoffDelayMs(attempt + 1, backoff), options.signal);
    }
  }

  private handle(name: string, key: string, token: string): HeldLock {
    const redis = this.redis;
    this.held += 1;
    const done = () => {
      this.held -= 1;
    };
    const lost = new AbortController();
    const markLost = (why: string) => {
      if (!lost.signal.aborted) lost.abort(new Error(`lock "${name}" was lost: ${why}`));
    };
    let released = false;
    const lock: LockHandle = {
      name,
      key,
      token,
      signal: lost.signal,
      async release() {
        if (released) return false;
        released = true;
        done();
        const deleted = (await RELEASE_IF_OWNER.run(redis, [key], [token])) === 1;
        if (!deleted) markLost("it had expired or moved to another owner before release");
        return deleted;
      },
      async extend(ttlMs: number) {
        if (released) return false;
        const extended = (await EXTEND_IF_OWNER.run(redis, [key], [token, validTtl(ttlMs)])) === 1;
        if (!extended) markLost("it had expired or moved to another owner before extension");
        return extended;
      },
    };
    return { lock, markLost };
  }

  /** Extends the lock every `ttlMs / 3` until the returned stop function is called or the lock is lost. */
  private keepExtending(held: HeldLock, ttlMs: number): () => void {
    let expiresAt = Date.now() + ttlMs;
    let inFlight = false;
    const timer = setInterval(
      () => {
        if (inFlight) return;
        inFlight = true;
        held.lock.extend(ttlMs).then(
          (extended) => {
            inFlight = false;
            if (extended) expiresAt = Date.now() + ttlMs;
            else clearInterval(timer);
          },
          () => {
            inFlight = false;
            // Redis unreachable: keep trying until the lock would have expired anyway, then give it up for lost.
            if (Date.now() < expiresAt) return;
            clearInterval(timer);
            held.markLost("Redis could not be reached to extend it before its TTL ran out");
          },
        );
      },
      Math.max(1, Math.floor(ttlMs / 3)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }
}

function validTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < 1) throw new RangeError(`lock TTL must be >= 1 ms, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}
