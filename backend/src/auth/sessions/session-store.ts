import type { RedisClient } from "../../redis/redis-connections.ts";
import { expiresAt, sessionRecordSchema, type SessionRecord } from "./session-record.ts";

/** Counts of live sessions, fleet-wide (read from the Redis indexes). */
export interface SessionCounts {
  /** Sessions not yet expired. */
  active: number;
  /** Distinct users with at least one. */
  users: number;
  byScope: { admin: number; guild: number };
}

const SCOPES = ["admin", "guild"] as const;
/** Most expired index entries one sweep removes per scope (the next sweep takes the rest). */
const SWEEP_BATCH = 1_000;

/**
 * Sessions in Redis, under the app prefix:
 * - `<prefix>:session:<id>`: the record (JSON), expiring when the session does (sliding TTL capped by the absolute end);
 * - `<prefix>:session-user:<userId>`: sorted set of that user's session ids, scored by expiry (the per-user index);
 * - `<prefix>:sessions-active:<scope>`: sorted sets of `<id>|<userId>` scored by expiry (fleet counts and the sweep).
 * Each command names one key, so it works on a Redis Cluster as on one node. Updates use `XX` so a session deleted
 * meanwhile (revoked) is never brought back by a late activity write.
 */
export class SessionStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  /** Stores a new session and indexes it. */
  async create(record: SessionRecord, now: number): Promise<void> {
    const expiry = expiresAt(record, this.ttlMs);
    // Indexes first: if the record write then fails, the dangling index entries are pruned later.
    await Promise.all([
      this.client.zadd(this.userKey(record.userId), expiry, record.id),
      this.client.zadd(this.activeKey(record.scope), expiry, member(record)),
    ]);
    await this.client.set(this.recordKey(record.id), JSON.stringify(record), "PX", Math.max(1, expiry - now));
  }

  /**
   * Rewrites an existing session (activity, refreshed scope) and its expiry; false when it no longer exists (revoked
   * or expired meanwhile), in which case nothing is written.
   */
  async update(record: SessionRecord, previousScope: "admin" | "guild", now: number): Promise<boolean> {
    const expiry = expiresAt(record, this.ttlMs);
    const written = await this.client.set(
      this.recordKey(record.id),
      JSON.stringify(record),
      "PX",
      Math.max(1, expiry - now),
      "XX",
    );
    if (written !== "OK") return false;
    const writes: Promise<unknown>[] = [this.client.zadd(this.userKey(record.userId), "XX", expiry, record.id)];
    if (previousScope !== record.scope) {
      writes.push(
        this.client.zrem(this.activeKey(previousScope), member(record)),
        this.client.zadd(this.activeKey(record.scope), expiry, member(record)),
      );
    } else {
      writes.push(this.client.zadd(this.activeKey(record.scope), "XX", expiry, member(record)));
    }
    await Promise.all(writes);
    return true;
  }

  /** The session with this id, or undefined (unknown, expired, or not a valid record). Rejects when Redis fails. */
  async get(id: string): Promise<SessionRecord | undefined> {
    const raw = await this.client.get(this.recordKey(id));
    if (raw === null) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return undefined;
    }
    const record = sessionRecordSchema.safeParse(parsed);
    return record.success && record.data.id === id ? record.data : undefined;
  }

  /** Deletes sessions of one user by id, with their index entries; resolves with the ids that existed. */
  async delete(userId: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const deleted = await Promise.all(ids.map((id) => this.client.del(this.recordKey(id))));
    const members = ids.map((id) => `${id}|${userId}`);
    await Promise.all([
      this.client.zrem(this.userKey(userId), ...ids),
      ...SCOPES.map((scope) => this.client.zrem(this.activeKey(scope), ...members)),
    ]);
    return ids.filter((_, index) => deleted[index] === 1);
  }

  /** The live sessions of a user; index entries whose session is gone (expired, deleted) are pruned on the way. */
  async listUser(userId: string, now: number): Promise<SessionRecord[]> {
    const key = this.userKey(userId);
    await this.client.zremrangebyscore(key, "-inf", String(now));
    const ids = await this.client.zrange(key, "0", "-1");
    const records = await Promise.all(ids.map((id) => this.get(id)));
    const missing = ids.filter((_, index) => records[index] === undefined);
    if (missing.length > 0) await this.delete(userId, missing);
    return records.filter((record): record is SessionRecord => record !== undefined);
  }

  /** Ids of a user's sessions in the index (not checked against their records). */
  async userSessionIds(userId: string, now: number): Promise<string[]> {
    return this.client.zrangebyscore(this.userKey(userId), `(${now}`, "+inf");
  }

  /** Fleet-wide counts from the active indexes (entries past their expiry are not counted). */
  async counts(now: number): Promise<SessionCounts> {
    const byScope = { admin: 0, guild: 0 };
    const users = new Set<string>();
    for (const scope of SCOPES) {
      const members = await this.client.zrangebyscore(this.activeKey(scope), `(${now}`, "+inf");
      byScope[scope] = members.length;
      for (const entry of members) users.add(entry.slice(entry.indexOf("|") + 1));
    }
    return { active: byScope.admin + byScope.guild, users: users.size, byScope };
  }

  /** Live session ids of the fleet, with their user, for the scope refresh (at most `limit` per scope). */
  async activeSessions(now: number, limit: number): Promise<{ id: string; userId: string }[]> {
    const out: { id: string; userId: string }[] = [];
    for (const scope of SCOPES) {
      const members = await this.client.zrangebyscore(this.activeKey(scope), `(${now}`, "+inf", "LIMIT", 0, limit);
      for (const entry of members) out.push(parseMember(entry));
    }
    return out;
  }

  /**
   * Removes expired entries from the indexes (the records themselves expire by TTL); returns how many
   * sessions' entries were removed.
   */
  async sweep(now: number): Promise<number> {
    let removed = 0;
    for (const scope of SCOPES) {
      const key = this.activeKey(scope);
      const expired = await this.client.zrangebyscore(key, "-inf", String(now), "LIMIT", 0, SWEEP_BATCH);
      if (expired.length === 0) continue;
      await this.client.zrem(key, ...expired);
      const users = new Set(expired.map((entry) => parseMember(entry).userId));
      await Promise.all(
        [...users].map((userId) => this.client.zremrangebyscore(this.userKey(userId), "-inf", String(now))),
      );
      removed += expired.length;
    }
    return removed;
  }

  private recordKey(id: string): string {
    return `${this.prefix}:session:${id}`;
  }

  private userKey(userId: string): string {
    return `${this.prefix}:session-user:${userId}`;
  }

  private activeKey(scope: "admin" | "guild"): string {
    return `${this.prefix}:sessions-active:${scope}`;
  }
}

function member(record: SessionRecord): string {
  return `${record.id}|${record.userId}`;
}

function parseMember(entry: string): { id: string; userId: string } {
  const split = entry.indexOf("|");
  return { id: entry.slice(0, split), userId: entry.slice(split + 1) };
}
