import type { PrincipalScope } from "../principal.ts";
import type { SessionRecord } from "./session-record.ts";

/** A fresh reading of a session's scope, or the news that the session must end. */
export type ScopeRefresh =
  | (PrincipalScope & { ended?: false; userName?: string; discordTokens?: string })
  | { ended: true; reason: string };

/**
 * Where a session's scope comes from and is re-read on schedule: Discord for "Log in with Discord", PostgreSQL for
 * sessions made from an API key. `refresh` rejects when the source cannot be reached (the old scope is kept).
 */
export interface SessionScopeSource {
  refresh(record: SessionRecord): Promise<ScopeRefresh>;
}
