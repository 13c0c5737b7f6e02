import { Router, type RequestHandler } from "express";
import {
  fieldError,
  leaderboardQuerySchema,
  liveQuerySchema,
  parseActivityQuery,
  parseTime,
  streaksQuerySchema,
  timelineQuerySchema,
} from "../activity/activity-query.ts";
import type { ActivityMetricType } from "../activity/activity-metrics.ts";
import type { ActivityService } from "../activity/activity-service.ts";
import type { Authenticator } from "../auth/credential-authenticator.ts";
import { CacheError, InvalidKeyError } from "../cache/cache-errors.ts";
import { ActivityUnavailableError } from "../errors.ts";
import { assertGuildAccess, requireAdmin, requireApiKey } from "./middleware/require-api-key.ts";

/** What the activity router is built from. */
export interface ActivityRouterDependencies {
  activity: Pick<ActivityService, "reader" | "live" | "system">;
  auth: Authenticator;
  /** Middleware run after authentication, before validation (e.g. `apiKeyRateLimit`). */
  afterAuth?: RequestHandler[];
  /** Clock (default `Date.now`), injectable for tests. */
  now?: () => number;
}

/**
 * `GET /activity/{timeline,leaderboard,streaks,live}` (guild-scoped keys) and `/activity/system` (admin), mounted
 * at `/api`: API key -> validation -> guild scope -> Redis read (never PostgreSQL). Redis unavailable: 503
 * E_ACTIVITY_UNAVAILABLE. Answers are live, so `Cache-Control: no-store`. docs/activity.md.
 */
export function activityRouter(deps: ActivityRouterDependencies): Router {
  const router = Router();
  const now = deps.now ?? Date.now;
  router.use("/activity", requireApiKey(deps.auth), ...(deps.afterAuth ?? []));
  const send = (res: Parameters<RequestHandler>[1], body: unknown) => res.set("Cache-Control", "no-store").json(body);

  router.get("/activity/timeline", async (req, res) => {
    const query = parseActivityQuery(timelineQuerySchema, req.query);
    assertGuildAccess(res, query.guildId);
    const at = now();
    const since = parseTime("since", query.since, at);
    try {
      send(
        res,
        await deps.activity.reader.timeline(
          query.guildId,
          query.metric as ActivityMetricType,
          query.granularity,
          since,
          at,
        ),
      );
    } catch (error) {
      if (error instanceof RangeError) throw fieldError("since", error.message);
      throw unavailable(error);
    }
  });

  router.get("/activity/leaderboard", async (req, res) => {
    const query = parseActivityQuery(leaderboardQuerySchema, req.query);
    assertGuildAccess(res, query.guildId);
    const at = query.at === undefined ? now() : parseTime("at", query.at, now());
    const member = query.board === "channels" ? query.channelId : query.userId;
    send(
      res,
      await deps.activity.reader
        .leaderboard(query.guildId, query.board, query.period, at, query.limit, member)
        .catch(rethrow),
    );
  });

  router.get("/activity/streaks", async (req, res) => {
    const query = parseActivityQuery(streaksQuerySchema, req.query);
    assertGuildAccess(res, query.guildId);
    send(res, await deps.activity.reader.streaks(query.guildId, query.userId, now()).catch(rethrow));
  });

  router.get("/activity/live", async (req, res) => {
    const query = parseActivityQuery(liveQuerySchema, req.query);
    assertGuildAccess(res, query.guildId);
    send(res, await deps.activity.live.live(query.guildId, now(), query.joins).catch(rethrow));
  });

  router.get("/activity/system", requireAdmin, async (_req, res) => {
    send(res, await deps.activity.system(now()).catch(rethrow));
  });
  return router;
}

function rethrow(error: unknown): never {
  throw unavailable(error);
}

/** Redis failures (E_CACHE_UNAVAILABLE, an open breaker, a timeout) become 503; a bad key part stays a bug (500). */
function unavailable(error: unknown): unknown {
  if (error instanceof InvalidKeyError) return error;
  return error instanceof CacheError || error instanceof Error ? new ActivityUnavailableError(error) : error;
}
