import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import express from "express";
import { pino } from "pino";
import { apiKeyRateLimit, type ApiKeyRateLimiter } from "../../../../backend/src/http/middleware/api-key-rate-limit.ts";
import { errorMiddleware } from "../../../../backend/src/http/error-middleware.ts";
import type { Logger } from "../../../../backend/src/logging/logger.ts";
import type { NodeBreakers } from "../../../../backend/src/cache/transport/node-breakers.ts";
import {
  createRedisConnections,
  type RedisClient,
  type RedisConnections,
  type RedisConnectionOptions,
} from "../../../../backend/src/redis/redis-connections.ts";

/** One API instance reduced to the rate limiter: `GET /?user=<id>` counts for principal `<id>` and answers 200 or 429. */
export interface LimitedInstance {
  redis: RedisConnections;
  limiter: ApiKeyRateLimiter;
  /** How long the limiter held each request, ms (measured around the middleware, without HTTP). */
  limiterMs: number[];
  /** Log lines (JSON-parsed) this instance wrote. */
  logs: { msg: string }[];
  /** Sends one request for `user`; resolves its status. */
  hit(user: string): Promise<number>;
  close(): Promise<void>;
}

/** Starts an instance on its own Redis connections and a loopback port, counting under `prefix`. */
export async function startLimitedInstance(options: {
  redis: RedisConnectionOptions;
  prefix: string;
  limit: number;
  shared?: boolean;
  timeoutMs?: number;
  /** The breakers to pass the limiter (the service passes the cache's), built on the instance's command connection. */
  breakers?: (client: RedisClient) => NodeBreakers;
}): Promise<LimitedInstance> {
  const logs: { msg: string }[] = [];
  const logger = pino(
    { level: "info" },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line) as { msg: string });
        done();
      },
    }),
  ) as unknown as Logger;
  const redis = createRedisConnections(options.redis, logger);
  const limiter = apiKeyRateLimit({
    redis: redis.client,
    logger,
    limit: options.limit,
    prefix: options.prefix,
    shared: options.shared ?? true,
    timeoutMs: options.timeoutMs ?? 250,
    ...(options.breakers ? { breakers: options.breakers(redis.client) } : {}),
  });
  const app = express();
  app.use((req, res, next) => {
    res.locals.principal = { scope: "admin", userId: String(req.query.user), name: "test" };
    next();
  });
  const limiterMs: number[] = [];
  const timedLimiter: express.RequestHandler = (req, res, next) => {
    const started = performance.now();
    void limiter(req, res, (error?: unknown) => {
      limiterMs.push(performance.now() - started);
      next(error);
    });
  };
  app.get("/", timedLimiter, (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorMiddleware(logger));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    redis,
    limiter,
    limiterMs,
    logs,
    hit: async (user) => (await fetch(`${base}/?user=${encodeURIComponent(user)}`)).status,
    close: async () => {
      limiter.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await redis.close();
    },
  };
}
