import { z } from "zod";
import type { Principal } from "../principal.ts";

/** How a session was opened: "Log in with Discord", or `POST /api/sessions` with an API key. */
export type SessionKind = "discord" | "api-key";

/** A session as stored in Redis (JSON, so `redis-cli GET` shows it; the Discord tokens are encrypted). */
export const sessionRecordSchema = z.object({
  v: z.literal(1),
  id: z.string(),
  kind: z.enum(["discord", "api-key"]),
  userId: z.string().min(1),
  userName: z.string(),
  scope: z.enum(["admin", "guild"]),
  guildIds: z.array(z.string()),
  /** The API key a session of kind "api-key" was made from. */
  keyId: z.string().optional(),
  createdAt: z.number(),
  lastActivityAt: z.number(),
  /** Absolute end (createdAt + SESSION_MAX_AGE), in ms since the epoch. */
  maxExpiresAt: z.number(),
  /** When the scope was last read from its source (Discord or PostgreSQL). */
  scopeRefreshedAt: z.number(),
  clientIp: z.string(),
  userAgent: z.string(),
  /** AES-256-GCM sealed JSON of the Discord OAuth tokens (`TokenCipher`); never returned or logged. */
  discordTokens: z.string().optional(),
});

/** One stored session. */
export type SessionRecord = z.infer<typeof sessionRecordSchema>;

/** What the API shows of a session: never its token nor the Discord tokens. */
export interface SessionSummary {
  id: string;
  kind: SessionKind;
  userId: string;
  userName: string;
  scope: "admin" | "guild";
  guildIds: string[];
  createdAt: string;
  lastActivityAt: string;
  expiresAt: string;
  maxExpiresAt: string;
  clientIp: string;
  userAgent: string;
  /** True for the session the request itself came with. */
  current?: boolean;
}

/** When a session ends if unused: the sliding TTL from its last recorded activity, capped by its absolute end. */
export function expiresAt(record: SessionRecord, ttlMs: number): number {
  return Math.min(record.lastActivityAt + ttlMs, record.maxExpiresAt);
}

/** The API's view of a record. */
export function summarize(record: SessionRecord, ttlMs: number, currentId?: string): SessionSummary {
  return {
    id: record.id,
    kind: record.kind,
    userId: record.userId,
    userName: record.userName,
    scope: record.scope,
    guildIds: record.guildIds,
    createdAt: new Date(record.createdAt).toISOString(),
    lastActivityAt: new Date(record.lastActivityAt).toISOString(),
    expiresAt: new Date(expiresAt(record, ttlMs)).toISOString(),
    maxExpiresAt: new Date(record.maxExpiresAt).toISOString(),
    clientIp: record.clientIp,
    userAgent: record.userAgent,
    ...(currentId === undefined ? {} : { current: record.id === currentId }),
  };
}

/** The principal of a stored session. */
export function principalOf(record: SessionRecord): Principal {
  const base = { userId: record.userId, name: record.userName, keyId: record.keyId, sessionId: record.id };
  return record.scope === "admin"
    ? { ...base, scope: "admin" }
    : { ...base, scope: "guild", guildIds: record.guildIds };
}
