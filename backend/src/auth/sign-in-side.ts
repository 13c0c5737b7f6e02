import { randomBytes } from "node:crypto";
import type { AppConfig } from "../config/config.ts";
import type { Logger } from "../logging/logger.ts";
import type { SessionRevocationReason } from "../pubsub/session-revoked.ts";
import type { RedisConnections } from "../redis/redis-connections.ts";
import type { ApiKeyService } from "./api-key-service.ts";
import { credentialAuthenticator, type Authenticator } from "./credential-authenticator.ts";
import { BotGuilds } from "./discord/bot-guilds.ts";
import { DiscordOAuthClient } from "./discord/discord-oauth-client.ts";
import { DiscordScopeSource } from "./discord/discord-scope-source.ts";
import { DiscordSignIn } from "./discord/discord-sign-in.ts";
import { OAuthStateStore } from "./discord/oauth-state-store.ts";
import { ApiKeyScopeSource } from "./sessions/api-key-scope-source.ts";
import { listenForSessionRevocations, sessionRevocationPublisher } from "./sessions/session-revocation.ts";
import { SessionService } from "./sessions/session-service.ts";
import { SessionStore, type SessionCounts } from "./sessions/session-store.ts";
import { TokenCipher } from "./sessions/token-cipher.ts";

/** Where Discord is for sign-in: the real one from config, or demo mode's fake Discord. */
export interface SignInDiscord {
  apiUrl: string;
  authorizeUrl: string;
  clientId: string;
  clientSecret: string;
  /** The bot token, to learn which guilds the bot is in (`/users/@me/guilds`); undefined: none. */
  botToken: string | undefined;
}

/** Sessions, "Log in with Discord" and their background work, as the service runs them. */
export interface SignInSide {
  sessions: SessionService;
  /** undefined when Discord sign-in is not configured. */
  signIn: DiscordSignIn | undefined;
  /** API keys and session tokens: what every route and `/ws` authenticate with. */
  authenticator: Authenticator;
  /** The counts of the last sweep (for /metrics without a Redis call at scrape time). */
  lastCounts(): SessionCounts | undefined;
  /** Starts the periodic sweep (index clean-up, due scope refreshes, counts). */
  start(): void;
  /** Stops the sweep and the revocation listener (bounded). */
  close(): Promise<void>;
}

/** Demo mode's OAuth2 client: the fake Discord is started with it. */
export function demoOAuthClient(): { clientId: string; clientSecret: string } {
  return { clientId: "spywatcher-demo", clientSecret: randomBytes(24).toString("base64url") };
}

/**
 * Builds the session side from config: one SessionStore on the command connection, the revocation broadcast on
 * pub/sub, scope sources for both kinds of session and, when `discord` is given, "Log in with Discord".
 */
export function createSignInSide(input: {
  config: AppConfig;
  redis: RedisConnections;
  logger: Logger;
  apiKeys: ApiKeyService;
  discord: SignInDiscord | undefined;
  /** Sessions revoked, or whose scope shrank, here or on another instance (close their sockets). */
  onRevoked: (ids: string[], reason: SessionRevocationReason) => void;
}): SignInSide {
  const { config, redis, logger } = input;
  const settings = config.sessions;
  const prefix = config.redis.keyPrefix;
  if (!settings.sessionSecret && input.discord) {
    logger.warn(
      "SESSION_SECRET is not set: using a random one for this process (stored Discord tokens do not survive a restart; set it in production)",
    );
  }
  const cipher = new TokenCipher(settings.sessionSecret ?? randomBytes(48).toString("base64"));
  const adminUserIds = new Set(settings.adminUserIds);
  const client = input.discord
    ? new DiscordOAuthClient({ ...input.discord, timeoutMs: settings.discordTimeoutMs })
    : undefined;
  const botGuilds = client ? new BotGuilds(client, input.discord?.botToken) : undefined;
  const sessions = new SessionService({
    store: new SessionStore(redis.client, prefix, settings.ttlMs),
    logger,
    ttlMs: settings.ttlMs,
    maxAgeMs: settings.maxAgeMs,
    scopeRefreshIntervalMs: settings.scopeRefreshIntervalMs,
    staleIfErrorMs: settings.staleIfErrorMs,
    scopeSources: {
      "api-key": new ApiKeyScopeSource(input.apiKeys, Boolean(config.adminApiKey)),
      ...(client && botGuilds ? { discord: new DiscordScopeSource({ client, botGuilds, cipher, adminUserIds }) } : {}),
    },
    broadcastRevocation: sessionRevocationPublisher(redis.client, prefix, config.redis.connectTimeoutMs),
    onRevoked: input.onRevoked,
  });
  const signIn =
    client && botGuilds
      ? new DiscordSignIn({
          client,
          states: new OAuthStateStore(redis.client, prefix, settings.stateTtlMs),
          sessions,
          botGuilds,
          cipher,
          adminUserIds,
          logger,
        })
      : undefined;
  const listener = listenForSessionRevocations({ connection: redis.subscriber, keyPrefix: prefix, sessions, logger });

  let counts: SessionCounts | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const lockKey = `${prefix}:session-sweep-lock`;
  const sweep = async () => {
    try {
      // One instance per interval does the fleet's clean-up and refreshes; every instance reads the counts.
      const mine = await redis.client.set(lockKey, "1", "PX", Math.max(1_000, settings.sweepIntervalMs - 100), "NX");
      if (mine === "OK") {
        const removed = await sessions.sweep();
        // Scopes falling due before the next round are read now: an idle session's scope is at most the interval old.
        const refreshed = await sessions.refreshDueScopes(1_000, settings.sweepIntervalMs);
        if (removed > 0 || refreshed > 0) logger.debug({ removed, refreshed }, "session sweep");
      }
      counts = await sessions.counts();
    } catch (error) {
      logger.debug({ err: (error as Error).message }, "session sweep skipped");
    }
  };

  return {
    sessions,
    signIn,
    authenticator: credentialAuthenticator(input.apiKeys, sessions, input.apiKeys.failedAuthLimiter),
    lastCounts: () => counts,
    start() {
      running = sweep().finally(() => (running = undefined));
      timer = setInterval(() => {
        // A sweep slowed by Discord must not overlap the next one.
        running ??= sweep().finally(() => (running = undefined));
      }, settings.sweepIntervalMs);
      timer.unref();
    },
    async close() {
      clearInterval(timer);
      await running;
      await sessions.whenIdle();
      await listener.close();
    },
  };
}
