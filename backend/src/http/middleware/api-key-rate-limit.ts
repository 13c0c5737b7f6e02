import type { RequestHandler } from "express";
import { ipKeyGenerator, rateLimit, type Options, type Store } from "express-rate-limit";
import { RedisStore } from "rate-limit-redis";
import type { Logger } from "../../logging/logger.ts";
import type { RedisClient } from "../../redis/redis-connections.ts";
import { TooManyRequestsError } from "./too-many-requests-error.ts";
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
}

/**
 * Per-API-key rate limit counted in Redis (shared by every instance), after `requireApiKey`. Answers 429 JSON with
 * RateLimit headers. Fails open: while Redis is down, requests pass and the store reconnects its scripts later.
 */
export function apiKeyRateLimit(options: ApiKeyRateLimitOptions): RequestHandler {
  if (options.limit <= 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: options.windowMs ?? 60_000,
    limit: options.limit,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    passOnStoreError: true,
    // Store errors are logged (throttled) by ResilientStore; validation warnings go to the service log.
    logger: { error: () => undefined, warn: (error: unknown) => options.logger.warn({ err: String(error) }, "rate limiter") },
    store: new ResilientStore(
      new RedisStore({
        prefix: options.prefix ?? "ratelimit:",
        sendCommand: (command: string, ...args: string[]) => options.redis.call(command, ...args) as never,
      }),
      options.logger,
    ),
    // Counted per principal user (an API key as `key:<id>`, a signed-in person by user id; never by a secret); without one, by client address.
    keyGenerator: (req, res) => principalOf(res)?.userId ?? ipKeyGenerator(req.ip ?? "unknown"),
    handler: (_req, _res, next, used: Options) => {
      next(new TooManyRequestsError(`Rate limit of ${used.limit} requests per ${used.windowMs / 1000} s exceeded`));
    },
  });
}

/**
 * Wraps RedisStore so an outage never sticks: RedisStore loads its Lua scripts once in `init`, and if Redis was
 * down (or not yet connected) then, every later call would fail on the rejected load. Here the scripts are
 * (re)loaded before the first call after any failure; while Redis is down that fails fast and the request passes.
 */
class ResilientStore implements Store {
  private options: Options | undefined;
  private loading: Promise<boolean> | undefined;
  private loaded = false;
  private lastErrorLog = 0;
  readonly localKeys = false;
  readonly prefix: string;

  constructor(
    private readonly inner: RedisStore,
    private readonly logger: Logger,
  ) {
    this.prefix = inner.prefix;
  }

  async init(options: Options): Promise<void> {
    this.options = options;
    await this.load();
  }

  async increment(key: string) {
    if (!this.loaded && !(await this.load())) throw new Error("rate limit scripts are not loaded (redis unavailable)");
    try {
      return await this.inner.increment(key);
    } catch (error) {
      this.failed(error);
      throw error;
    }
  }

  async decrement(key: string): Promise<void> {
    await this.inner.decrement(key).catch((error: unknown) => this.failed(error));
  }

  async resetKey(key: string): Promise<void> {
    await this.inner.resetKey(key).catch((error: unknown) => this.failed(error));
  }

  private failed(error: unknown): void {
    this.loaded = false;
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
        await init;
        this.loaded = true;
      } catch (error) {
        this.failed(error);
      } finally {
        this.loading = undefined;
      }
      return this.loaded;
    })();
    return this.loading;
  }
}
