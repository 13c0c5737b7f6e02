import { LRUCache } from "lru-cache";
import { DependencyUnavailableError } from "../../errors.ts";
import type { Logger } from "../../logging/logger.ts";
import type { SessionRevocationReason } from "../../pubsub/session-revoked.ts";
import type { Principal, PrincipalScope } from "../principal.ts";
import { SessionScopeRefresher } from "./session-scope-refresher.ts";
import type { SessionScopeSource } from "./session-scope-source.ts";
import { principalOf, summarize, type SessionKind, type SessionRecord, type SessionSummary } from "./session-record.ts";
import type { SessionCounts, SessionStore } from "./session-store.ts";
import { csrfTokenOf, generateSessionToken, looksLikeSessionToken, sessionIdOf } from "./session-token.ts";

/** Settings of the session service (config names in brackets). */
export interface SessionServiceOptions {
  store: SessionStore;
  logger: Logger;
  /** Sliding lifetime from the last activity, in ms (SESSION_TTL, default 24 h). */
  ttlMs: number;
  /** Absolute lifetime from sign-in, in ms (SESSION_MAX_AGE, default 7 days). */
  maxAgeMs: number;
  /** At most one activity write per session per this many ms (default 60,000). */
  activityWriteIntervalMs?: number;
  /** The scope is re-read from its source once it is this old, in ms (SESSION_SCOPE_REFRESH_INTERVAL, default 10 min). */
  scopeRefreshIntervalMs: number;
  /** After a failed refresh, wait this long before the next attempt for that session, in ms (default 60,000). */
  scopeRetryMs?: number;
  /**
   * While Redis fails, a session this process verified at most this many ms ago is still accepted with its last
   * known scope (SESSION_STALE_IF_ERROR, default 5 min; 0: every request gets 503 during an outage).
   */
  staleIfErrorMs: number;
  /** Where each kind of session re-reads its scope. */
  scopeSources: Partial<Record<SessionKind, SessionScopeSource>>;
  /** Tells every instance which sessions were revoked, or had their scope reduced (their ids); rejects when it cannot. */
  broadcastRevocation?: (ids: string[], reason: SessionRevocationReason) => Promise<void>;
  /**
   * Called with ids revoked (`revoked`) or whose scope shrank (`scope-reduced`), here or elsewhere: their WebSockets
   * are closed (4401, or 4403 so the dashboard reconnects with the reduced scope).
   */
  onRevoked?: (ids: string[], reason: SessionRevocationReason) => void;
  now?: () => number;
}

/** What a new session's creator supplies. */
export interface NewSession extends Pick<SessionRecord, "kind" | "userId" | "userName" | "clientIp" | "userAgent"> {
  scope: PrincipalScope;
  keyId?: string | undefined;
  /** Sealed Discord tokens (`TokenCipher.encrypt`). */
  discordTokens?: string | undefined;
}

/** A session just opened: the token is shown once (cookie and JSON answer). */
export interface OpenedSession {
  token: string;
  csrfToken: string;
  session: SessionSummary;
}

const WARN_INTERVAL_MS = 10_000;

/**
 * Opens, checks, lists and revokes sessions kept in Redis. Every check reads Redis (the source of truth, so a
 * revocation anywhere is seen by the next request everywhere); while Redis fails, recently verified sessions are
 * served from memory (stale-if-error) and the rest get 503. Activity is written at most once a minute per session.
 */
export class SessionService {
  private readonly now: () => number;
  private readonly verified: LRUCache<string, { principal: Principal; at: number }>;
  private readonly scopes: SessionScopeRefresher;
  private readonly pendingWrites = new Set<Promise<unknown>>();
  private lastWarning = 0;

  constructor(private readonly options: SessionServiceOptions) {
    this.now = options.now ?? Date.now;
    this.verified = new LRUCache({ max: 10_000 });
    this.scopes = new SessionScopeRefresher({
      store: options.store,
      logger: options.logger,
      scopeSources: options.scopeSources,
      scopeRefreshIntervalMs: options.scopeRefreshIntervalMs,
      scopeRetryMs: options.scopeRetryMs ?? 60_000,
      now: this.now,
      end: (record) =>
        this.revokeIds(record.userId, [record.id]).then(
          () => undefined,
          () => undefined,
        ),
      reduced: (record) => this.announce([record.id], "scope-reduced"),
      warn: (fields, message) => this.warn(fields, message),
    });
  }

  /** Opens a session (a new random id every time: no fixation). Throws 503 when Redis cannot store it. */
  async open(input: NewSession): Promise<OpenedSession> {
    const now = this.now();
    const { token, id } = generateSessionToken();
    const record: SessionRecord = {
      v: 1,
      id,
      kind: input.kind,
      userId: input.userId,
      userName: input.userName,
      scope: input.scope.scope,
      guildIds: input.scope.scope === "guild" ? input.scope.guildIds : [],
      ...(input.keyId ? { keyId: input.keyId } : {}),
      createdAt: now,
      lastActivityAt: now,
      maxExpiresAt: now + this.options.maxAgeMs,
      scopeRefreshedAt: now,
      clientIp: input.clientIp.slice(0, 100),
      userAgent: input.userAgent.slice(0, 300),
      ...(input.discordTokens ? { discordTokens: input.discordTokens } : {}),
    };
    await this.redis("store the session", () => this.options.store.create(record, now));
    this.options.logger.info(
      { sessionId: id.slice(0, 12), userId: record.userId, kind: record.kind, scope: record.scope },
      "session opened",
    );
    return { token, csrfToken: csrfTokenOf(token), session: summarize(record, this.options.ttlMs, id) };
  }

  /**
   * The principal of a session token, or undefined when it is malformed, unknown, expired or revoked. Throws 503
   * when Redis fails and this process did not verify the session within SESSION_STALE_IF_ERROR.
   */
  async authenticate(token: string): Promise<Principal | undefined> {
    if (!looksLikeSessionToken(token)) return undefined;
    const id = sessionIdOf(token);
    let record: SessionRecord | undefined;
    try {
      record = await this.options.store.get(id);
    } catch (error) {
      return this.serveStale(id, error);
    }
    if (!record) {
      this.verified.delete(id);
      return undefined;
    }
    const now = this.now();
    if (now >= record.maxExpiresAt || now >= record.lastActivityAt + this.options.ttlMs) {
      this.verified.delete(id);
      return undefined;
    }
    if (this.scopes.isDue(record, now)) {
      record = await this.scopes.refresh(record);
      if (!record) return undefined;
    }
    if (now - record.lastActivityAt >= (this.options.activityWriteIntervalMs ?? 60_000))
      this.recordActivity(record, now);
    const principal = principalOf(record);
    this.verified.set(id, { principal, at: now });
    return principal;
  }

  /** The sessions of a user, newest first (`currentId` marks the caller's own). */
  async list(userId: string, currentId?: string): Promise<SessionSummary[]> {
    const records = await this.redis("list sessions", () => this.options.store.listUser(userId, this.now()));
    return records
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((record) => summarize(record, this.options.ttlMs, currentId));
  }

  /** Revokes one of a user's sessions; false when the user has no such session. */
  async revoke(userId: string, id: string): Promise<boolean> {
    const ids = await this.redis("revoke the session", () => this.options.store.userSessionIds(userId, this.now()));
    if (!ids.includes(id)) return false;
    await this.revokeIds(userId, [id]);
    return true;
  }

  /** Revokes every session of a user (all own sessions, an admin's revocation, a revoked API key); returns how many. */
  async revokeUser(userId: string): Promise<number> {
    const ids = await this.redis("revoke the sessions", () => this.options.store.userSessionIds(userId, this.now()));
    return (await this.revokeIds(userId, ids)).length;
  }

  /**
   * Applies revocations and scope reductions made here or broadcast by any instance: those sessions are no longer
   * served from memory (a remembered principal would carry the old scope), and `onRevoked` closes their sockets.
   */
  forgetRevoked(ids: string[], reason: SessionRevocationReason = "revoked"): void {
    for (const id of ids) this.verified.delete(id);
    this.options.onRevoked?.(ids, reason);
  }

  /** True when `token` is a session this process verified and has not seen end (the failed-auth limit lets it through). */
  isFamiliar(token: string): boolean {
    return looksLikeSessionToken(token) && this.verified.has(sessionIdOf(token));
  }

  /** Forgets every remembered verification (after the revocation subscriber reconnected: messages may have been lost). */
  forgetAllVerified(): void {
    this.verified.clear();
  }

  /** Fleet-wide counts of live sessions. Throws 503 when Redis fails. */
  async counts(): Promise<SessionCounts> {
    return this.redis("count sessions", () => this.options.store.counts(this.now()));
  }

  /** Removes expired index entries; returns how many. */
  async sweep(): Promise<number> {
    return this.options.store.sweep(this.now());
  }

  /**
   * Re-reads the scope of every live session whose scope is due now or within `lookaheadMs` (at most `limit` per
   * scope); returns how many were read.
   */
  async refreshDueScopes(limit = 1_000, lookaheadMs = 0): Promise<number> {
    return this.scopes.refreshDue(limit, lookaheadMs);
  }

  /** Resolves when the activity writes started so far have finished (shutdown, tests). */
  async whenIdle(): Promise<void> {
    await Promise.allSettled([...this.pendingWrites]);
  }

  private async revokeIds(userId: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const deleted = await this.redis("revoke sessions", () => this.options.store.delete(userId, ids));
    this.options.logger.info({ userId, sessions: ids.length }, "sessions revoked");
    await this.announce(ids, "revoked");
    return deleted;
  }

  /** Applies a revocation or scope reduction here, then tells every other instance (a failed broadcast is logged). */
  private async announce(ids: string[], reason: SessionRevocationReason): Promise<void> {
    this.forgetRevoked(ids, reason);
    await this.options.broadcastRevocation?.(ids, reason).catch((error: unknown) =>
      // Redis holds the truth every instance reads on each request: only sockets elsewhere wait for their next
      // heartbeat check, which re-reads the session (gone: 4401; fewer guilds: 4403).
      this.options.logger.warn({ err: (error as Error).message, reason }, "could not broadcast session revocations"),
    );
  }

  private recordActivity(record: SessionRecord, now: number): void {
    // Off the request path: a failed activity write costs only a slightly earlier expiry.
    const write = this.options.store
      .update({ ...record, lastActivityAt: now }, record.scope, now)
      .catch((error: unknown) => this.warn({ err: (error as Error).message }, "could not record session activity"))
      .finally(() => this.pendingWrites.delete(write));
    this.pendingWrites.add(write);
  }

  private serveStale(id: string, error: unknown): Principal {
    const remembered = this.verified.get(id);
    const now = this.now();
    if (remembered && this.options.staleIfErrorMs > 0 && now - remembered.at <= this.options.staleIfErrorMs) {
      this.warn(
        { sessionId: id.slice(0, 12), err: (error as Error).message },
        "redis unavailable: accepting a session on its last verification (stale-if-error)",
      );
      return remembered.principal;
    }
    throw new DependencyUnavailableError(
      "redis",
      "Cannot check the session right now: the session store is unavailable",
      error,
    );
  }

  private async redis<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new DependencyUnavailableError(
        "redis",
        `Cannot ${what} right now: the session store is unavailable`,
        error,
      );
    }
  }

  private warn(fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    if (now - this.lastWarning < WARN_INTERVAL_MS) return;
    this.lastWarning = now;
    this.options.logger.warn(fields, message);
  }
}
