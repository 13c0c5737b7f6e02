import { z } from "zod";
import { ValidationError } from "../errors.ts";
import { DEFAULT_LIMIT, MAX_LIMIT } from "./analytics-types.ts";
import { DEFAULT_SINCE, parseSince } from "./analytics-window.ts";

/** The query string every analytic takes: a guild, a window start and a page size. */
export interface AnalyticsParams {
  guildId: string;
  since?: string | undefined;
  limit: number;
}

/** A zod schema of an analytic's query string (each definition names its own; all use `windowParams` today). */
export type AnalyticsParamsSchema = z.ZodType<AnalyticsParams>;

/** `guildId` (a snowflake), `since` (parsed against the request's time by `parseAnalyticsParams`), `limit` (1-500, default 100). */
export const windowParams = z.object({
  guildId: z.string({ error: "is required" }).regex(/^\d{17,20}$/, "must be a Discord snowflake (17-20 digits)"),
  since: z.string({ error: "must be a single value" }).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
}) satisfies AnalyticsParamsSchema;

/** A validated analytics request: the window's start as a time, and as the caller wrote it. */
export interface ParsedAnalyticsParams {
  guildId: string;
  since: Date;
  limit: number;
  /** `since` as written (`24h`, an ISO time), or the default `7d`. */
  window: string;
}

/** Validates a query string with `schema` and `since` against `now`; throws one ValidationError listing every bad field. */
export function parseAnalyticsParams(
  schema: AnalyticsParamsSchema,
  raw: Record<string, unknown>,
  now: Date,
): ParsedAnalyticsParams {
  const parsed = schema.safeParse(raw);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || "query", message: issue.message }));
  // A repeated `since` (an array) is already among the zod issues; a single one is parsed against `now`.
  const since = typeof raw.since === "string" || raw.since === undefined ? parseSince(raw.since, now) : undefined;
  if (since && !since.ok) issues.push({ field: "since", message: since.message });
  if (!parsed.success || !since?.ok) {
    throw new ValidationError(issues.map((issue) => `${issue.field}: ${issue.message}`).join("; "), issues);
  }
  const window = typeof raw.since === "string" && raw.since !== "" ? raw.since : DEFAULT_SINCE;
  return { guildId: parsed.data.guildId, since: since.since, limit: parsed.data.limit, window };
}
