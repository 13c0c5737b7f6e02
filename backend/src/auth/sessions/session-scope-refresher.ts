import { LRUCache } from "lru-cache";
import type { Logger } from "../../logging/logger.ts";
import { isScopeReduced } from "../principal.ts";
import type { SessionScopeSource } from "./session-scope-source.ts";
import { principalOf, type SessionKind, type SessionRecord } from "./session-record.ts";
import type { SessionStore } from "./session-store.ts";

/** What the scope refresher needs (the session service passes its own settings and hooks). */
export interface SessionScopeRefresherOptions {
  store: SessionStore;
  logger: Logger;
  /** Where each kind of session re-reads its scope. */
  scopeSources: Partial<Record<SessionKind, SessionScopeSource>>;
  /** A scope is due once it is this old, in ms (SESSION_SCOPE_REFRESH_INTERVAL). */
  scopeRefreshIntervalMs: number;
  /** After a failed refresh, wait this long before the next attempt for that session, in ms. */
  scopeRetryMs: number;
  now: () => number;
  /** Ends a session its source says is over (revoked on every instance); must not reject. */
  end(record: SessionRecord): Promise<void>;
  /** Announces a session whose scope shrank (its sockets are closed on every instance); must not reject. */
  reduced(record: SessionRecord): Promise<void>;
  /** Rate-limited warning. */
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Re-reads sessions' scopes from their source (Discord, PostgreSQL) on schedule: on the request that finds a scope
 * due, and for idle sessions in the sweep. One refresh per session at a time in a process; a failed source keeps
 * the last known scope and is retried after `scopeRetryMs`. A scope that ends is revoked; one that shrank is
 * written and announced, so open sockets holding the old scope are closed (docs/auth.md).
 */
export class SessionScopeRefresher {
  private readonly refreshing = new Map<string, Promise<SessionRecord | undefined>>();
  private readonly failedAt = new LRUCache<string, number>({ max: 10_000 });

  constructor(private readonly options: SessionScopeRefresherOptions) {}

  /** True when the record's scope is at least `scopeRefreshIntervalMs` old at `now`. */
  isDue(record: SessionRecord, now: number): boolean {
    return now - record.scopeRefreshedAt >= this.options.scopeRefreshIntervalMs;
  }

  /** The record with its scope re-read (or as it was when the source failed); undefined when the session ended. */
  refresh(record: SessionRecord): Promise<SessionRecord | undefined> {
    let pending = this.refreshing.get(record.id);
    if (!pending) {
      pending = this.refreshOnce(record).finally(() => this.refreshing.delete(record.id));
      this.refreshing.set(record.id, pending);
    }
    return pending;
  }

  /**
   * Re-reads every live session whose scope is due now or within `lookaheadMs` (at most `limit` per scope); returns
   * how many were read. The sweep looks one round ahead, so an idle session's scope is never older than the interval.
   */
  async refreshDue(limit: number, lookaheadMs = 0): Promise<number> {
    const { store, now } = this.options;
    const at = now();
    let refreshed = 0;
    for (const { id } of await store.activeSessions(at, limit)) {
      const record = await store.get(id);
      if (!record || !this.isDue(record, at + lookaheadMs)) continue;
      await this.refresh(record);
      refreshed += 1;
    }
    return refreshed;
  }

  private async refreshOnce(record: SessionRecord): Promise<SessionRecord | undefined> {
    const { options } = this;
    const source = options.scopeSources[record.kind];
    const now = options.now();
    const failedAt = this.failedAt.get(record.id);
    if (!source || (failedAt !== undefined && now - failedAt < options.scopeRetryMs)) return record;
    let result: Awaited<ReturnType<typeof source.refresh>>;
    try {
      result = await source.refresh(record);
    } catch (error) {
      // The source is unreachable: keep the last known scope and try again later (docs/auth.md).
      this.failedAt.set(record.id, now);
      options.warn(
        { sessionId: record.id.slice(0, 12), kind: record.kind, err: (error as Error).message },
        "session scope refresh failed; keeping the last known scope",
      );
      return record;
    }
    if (result.ended) {
      options.logger.info(
        { sessionId: record.id.slice(0, 12), userId: record.userId, reason: result.reason },
        "session ended at scope refresh",
      );
      await options.end(record);
      return undefined;
    }
    const updated: SessionRecord = {
      ...record,
      scope: result.scope,
      guildIds: result.scope === "guild" ? result.guildIds : [],
      userName: result.userName ?? record.userName,
      ...(result.discordTokens ? { discordTokens: result.discordTokens } : {}),
      scopeRefreshedAt: now,
    };
    this.failedAt.delete(record.id);
    const written = await options.store.update(updated, record.scope, now).catch(() => true);
    if (!written) return undefined;
    if (isScopeReduced(principalOf(record), principalOf(updated))) {
      // HTTP requests read the new scope from Redis; open sockets hold the one they authenticated with, so every
      // instance closes them (4403) and the dashboard reconnects with the reduced scope. The session stays valid.
      options.logger.info(
        {
          sessionId: record.id.slice(0, 12),
          userId: record.userId,
          scope: updated.scope,
          guilds: updated.guildIds.length,
        },
        "session scope reduced at refresh",
      );
      await options.reduced(updated);
    }
    return updated;
  }
}
