import type { RequestHandler } from "express";
import { ipKeyGenerator, rateLimit, type Options, type Store } from "express-rate-limit";
import { RedisStore } from "rate-limit-redis";
import type { Logger } from "../../logging/logger.ts";
import type { RedisClient } from "../../redis/redis-connections.ts";
import type { CircuitBreakerOptions } from "../../cache/transport/circuit-breaker.ts";
import { isRedisFailure, NodeBreakers } from "../../cache/transport/node-breakers.ts";
import { withTimeout } from "../../lib/with-timeout.ts";
import { routedRateLimitCommands } from "./rate-limit-commands.ts";
import { TooManyRequestsError } from "../../errors.ts";
import { principalOf } from "./require-api-key.ts";

/** Options of the per-key rate limiter. */
export interface ApiKeyRateLimitOptions {
  redis: RedisClient;
  logger: Logger;
  /** Requests per window per API key (RATE_LIMIT_PER_MINUTE, default 600); 0 disables the limiter. */
  limit: number;
  /** Window length in ms (default 60,000). */
  windowMs?: number;
  /** Redis key prefix, e.g. "spywatcher:ratelimit:" (default "ratelimit:"). */
  prefix?: string;
  /**
   * Count in Redis, shared by every instance (ENABLE_REDIS_RATE_LIMITING, default true); false counts in this
   * process only (each instance allows `limit` on its own).
   */
  shared?: boolean;
  /** Longest wait for the counter, ms (REDIS_COMMAND_TIMEOUT_MS, default 250): past it the request passes. */
  timeoutMs?: number;
  /**
   * The per-master breakers to pass, shared with the other users of the same connection (the service gives the
   * cache's: a master judged down by either is skipped by both at once); the limiter does not close them. Without
   * them it builds its own, with `breaker` options.
   */
  breakers?: NodeBreakers;
  /** Options of each master's breaker in front of the counters, when it builds its own (default: the cache's defaults). */
  breaker?: CircuitBreakerOptions;
}

/** The rate limit middleware, whether it limits at all, and a way to stop its background probing. */
export type ApiKeyRateLimiter = RequestHandler & { close(): void; readonly enabled: boolean };

/** The middleware to mount after authentication: none when the limiter is off (so it costs no router step per request). */
export function rateLimitChain(limiter: ApiKeyRateLimiter): RequestHandler[] {
  return limiter.enabled ? [limiter] : [];
}

/**
 * Per-API-key rate limit, after `requireApiKey`. Answers 429 JSON with RateLimit headers. Counted in Redis (shared
 * by every instance; on a cluster each key's script runs on, and is reloaded on, the master owning the key) unless
 * `shared` is false. Fails open: while a counter's master is down or slow, requests pass within `timeoutMs`, at once
 * while that master's breaker is open.
 */
export function apiKeyRateLimit(options: ApiKeyRateLimitOptions): ApiKeyRateLimiter {
  if (options.limit <= 0)
    return Object.assign<RequestHandler, { close(): void; enabled: boolean }>((_req, _res, next) => next(), {
      close: () => undefined,
      enabled: false,
    });
  const timeoutMs = options.timeoutMs ?? 250;
  /** Breakers the limiter built, so closes. */
  let ownBreakers: NodeBreakers | undefined;
  let store: Store | undefined;
  if (options.shared ?? true) {
    ownBreakers = options.breakers
      ? undefined
      : new NodeBreakers(options.redis, {
          breaker: { isFailure: isRedisFailure, ...options.breaker },
          probeTimeoutMs: timeoutMs,
        });
    store = new ResilientStore(
      new RedisStore({
        prefix: options.prefix ?? "ratelimit:",
        sendCommandCluster: routedRateLimitCommands(options.redis, options.breakers ?? ownBreakers!),
      }),
      options.logger,
      timeoutMs,
    );
  } else {
    options.logger.info(
      { limitPerWindow: options.limit },
      "rate limiting in process (ENABLE_REDIS_RATE_LIMITING=false): each instance counts its own requests",
    );
  }
  const handler = rateLimit({
    windowMs: options.windowMs ?? 60_000,
    limit: options.limit,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    passOnStoreError: true,
    // Store errors are logged (throttled) by ResilientStore; validation warnings go to the service log.
    logger: {
      error: () => undefined,
      warn: (error: unknown) => options.logger.warn({ err: String(error) }, "rate limiter"),
    },
    // Without a store: express-rate-limit's in-process MemoryStore.
    ...(store ? { store } : {}),
    // Counted per principal user (an API key as `key:<id>`, a signed-in person by user id; never by a secret); without one, by client address.
    keyGenerator: (req, res) => principalOf(res)?.userId ?? ipKeyGenerator(req.ip ?? "unknown"),
    handler: (_req, _res, next, used: Options) => {
      next(new TooManyRequestsError(`Rate limit of ${used.limit} requests per ${used.windowMs / 1000} s exceeded`));
    },
  });
  return Object.assign(handler, { close: () => ownBreakers?.close(), enabled: true });
}

/**
 * Wraps RedisStore so an outage never sticks and never holds a request: RedisStore loads its Lua scripts once in
 * `init`, and if Redis was down (or not yet connected) then, every later call would fail on the rejected load;
 * here they are loaded before the first call until a load succeeds. After a failed reload (NOSCRIPT while the
 * key's master was failing) RedisStore would keep a rejected SHA-1 forever: it gets the known one back (a script's
 * SHA-1 never changes). Each call is bounded by `timeoutMs` in all.
 */
class ResilientStore implements Store {
  private options: Options | undefined;
  private loading: Promise<boolean> | undefined;
  private shas: { increment: string; get: string } | undefined;
  private lastErrorLog = 0;
  readonly localKeys = false;
  readonly prefix: string;

  constructor(
    private readonly inner: RedisStore,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {
    this.prefix = inner.prefix;
  }

  async init(options: Options): Promise<void> {
    this.options = options;
    await this.load();
  }

  async increment(key: string) {
    // One deadline for the whole call: loading the scripts (after an outage) and counting, NOSCRIPT reload included.
    const counting = (async () => {
      if (!this.shas && !(await this.load())) throw new Error("rate limit scripts are not loaded (redis unavailable)");
      return this.inner.increment(key);
    })();
    try {
      return await withTimeout(counting, this.timeoutMs, "rate limit increment");
    } catch (error) {
      counting.catch(() => undefined);
      this.failed(error);
      throw error;
    }
  }

  async decrement(key: string): Promise<void> {
    await withTimeout(this.inner.decrement(key), this.timeoutMs, "rate limit decrement").catch((error: unknown) =>
      this.failed(error),
    );
  }

  async resetKey(key: string): Promise<void> {
    await withTimeout(this.inner.resetKey(key), this.timeoutMs, "rate limit reset").catch((error: unknown) =>
      this.failed(error),
    );
  }

  private failed(error: unknown): void {
    if (this.shas) {
      this.inner.incrementScriptSha = Promise.resolve(this.shas.increment);
      this.inner.getScriptSha = Promise.resolve(this.shas.get);
    }
    const now = Date.now();
    if (now - this.lastErrorLog > 5_000) {
      this.lastErrorLog = now;
      this.logger.warn({ err: (error as Error).message }, "rate limit store unavailable: failing open");
    }
  }

  /** Loads the scripts; concurrent callers share one attempt. Resolves true when they are loaded. */
  private load(): Promise<boolean> {
    const options = this.options;
    if (!options) return Promise.resolve(false);
    this.loading ??= (async () => {
      try {
        const init = this.inner.init(options);
        // The store keeps these promises and awaits them on each call: never let their rejection go unhandled.
        this.inner.incrementScriptSha.catch(() => undefined);
        this.inner.getScriptSha.catch(() => undefined);
        await withTimeout(init, this.timeoutMs, "rate limit script load");
        this.shas = { increment: await this.inner.incrementScriptSha, get: await this.inner.getScriptSha };
      } catch (error) {
        this.failed(error);
      } finally {
        this.loading = undefined;
      }
      return this.shas !== undefined;
    })();
    return this.loading;
  }
}
