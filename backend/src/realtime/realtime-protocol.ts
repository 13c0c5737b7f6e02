import { z } from "zod";
import type { LiveCountersMessage } from "../activity/live-counters-channel.ts";
import type { ErrorCode } from "../errors.ts";
import type { AnalyticsUpdate } from "../pubsub/analytics-update.ts";

/**
 * The `/ws` protocol: JSON text frames. Clients send `auth`, `subscribe`, `unsubscribe`; the server answers
 * `authenticated`, `subscribed`, `unsubscribed`, `error`, and pushes `analytics:update` and `activity:live`. See docs/realtime.md.
 */

/** Longest API key an `auth` message may carry (issued keys are far shorter). */
export const MAX_KEY_LENGTH = 512;

const guildId = z
  .string({ error: "guildId is required" })
  .regex(/^\d{17,20}$/, "guildId must be a Discord snowflake (17-20 digits)");

/** A message a client may send. */
export const clientMessageSchema = z.discriminatedUnion(
  "type",
  [
    z.object({
      type: z.literal("auth"),
      // A schema-level `error` would also name every other issue (a 3.9 KB key was told "key is required").
      key: z
        .string({ error: (issue) => (issue.input === undefined ? "key is required" : "key must be a string") })
        .min(1, "key is required")
        .max(MAX_KEY_LENGTH, `key is too long (at most ${MAX_KEY_LENGTH} characters)`),
    }),
    z.object({ type: z.literal("subscribe"), guildId }),
    z.object({ type: z.literal("unsubscribe"), guildId }),
  ],
  { error: 'type must be one of "auth", "subscribe", "unsubscribe"' },
);

/** One client message. */
export type ClientMessage = z.infer<typeof clientMessageSchema>;

/** Codes of `error` frames (rows of the one error table); the connection stays open after each of them. */
export type RealtimeErrorCode = Extract<
  ErrorCode,
  "E_BAD_MESSAGE" | "E_VALIDATION" | "E_FORBIDDEN" | "E_LIMIT" | "E_UNAUTHORIZED" | "E_DEPENDENCY_UNAVAILABLE"
>;

/** A message the server sends. */
export type ServerMessage =
  | { type: "authenticated"; scope: "admin" | "guild"; guildIds?: string[] }
  | { type: "subscribed"; guildId: string }
  | { type: "unsubscribed"; guildId: string }
  | { type: "error"; error: { code: RealtimeErrorCode; message: string } }
  | ({ type: "analytics:update"; resync?: true } & AnalyticsUpdate)
  | { type: "notification"; notification: Record<string, unknown>; at: string }
  | ({ type: "activity:live" } & LiveCountersMessage);

/** Close codes the server uses (4000-4999 are the application's own). */
export const CLOSE_CODES = {
  /** The service is stopping. */
  goingAway: 1001,
  /** Too many bad frames in a row (`maxConsecutiveBadFrames`). */
  policyViolation: 1008,
  /** The auth service could not check the key (PostgreSQL down): try again later. */
  tryAgainLater: 1013,
  /** No `auth` message within the auth timeout. */
  authTimeout: 4008,
  /** The key in the `auth` message is unknown or revoked, or it was revoked while connected. */
  unauthorized: 4401,
  /** The session's guild scope shrank at a scope refresh (e.g. Manage Server lost): reconnect to get the current scope. */
  scopeReduced: 4403,
  /** The client did not read its pushes: its send buffer passed the bound. */
  slowConsumer: 4429,
} as const;

/**
 * The result of parsing one frame: the message, or the error frame to answer with (`auth` when the frame was an
 * `auth` message that failed validation: the socket is then refused at once, not left to its auth timeout).
 */
export type ParsedFrame =
  | { ok: true; message: ClientMessage }
  | { ok: false; error: { code: RealtimeErrorCode; message: string }; auth?: true };

/** Parses a text frame into a client message; never throws (bad input is a returned error, not an exception). */
export function parseClientFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedFrame {
  if (isBinary) return { ok: false, error: { code: "E_BAD_MESSAGE", message: "frames must be JSON text, not binary" } };
  const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString(
    "utf8",
  );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: "E_BAD_MESSAGE", message: "frame is not valid JSON" } };
  }
  const parsed = clientMessageSchema.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  const message = parsed.error.issues
    .map((issue) =>
      issue.path.length && !issue.message.startsWith(String(issue.path[0]))
        ? `${issue.path.join(".")}: ${issue.message}`
        : issue.message,
    )
    .join("; ");
  const auth = (json as { type?: unknown } | null)?.type === "auth";
  return { ok: false, error: { code: "E_VALIDATION", message }, ...(auth ? { auth: true as const } : {}) };
}
