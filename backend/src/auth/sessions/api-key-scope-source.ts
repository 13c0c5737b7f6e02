import type { ApiKeyService } from "../api-key-service.ts";
import { BOOTSTRAP_ADMIN_KEY_ID } from "../principal.ts";
import type { SessionRecord } from "./session-record.ts";
import type { ScopeRefresh, SessionScopeSource } from "./session-scope-source.ts";

/**
 * Re-reads the scope of a session made from an API key from PostgreSQL: it ends when the key was revoked or
 * deleted (the revocation broadcast usually ends it at once; this catches revocations made while no instance was
 * listening). Rejects (old scope kept) when PostgreSQL cannot answer.
 */
export class ApiKeyScopeSource implements SessionScopeSource {
  constructor(
    private readonly keys: Pick<ApiKeyService, "findActiveKey">,
    private readonly bootstrapAdminEnabled: boolean,
  ) {}

  async refresh(record: SessionRecord): Promise<ScopeRefresh> {
    if (record.keyId === BOOTSTRAP_ADMIN_KEY_ID) {
      return this.bootstrapAdminEnabled
        ? { scope: "admin" }
        : { ended: true, reason: "ADMIN_API_KEY is no longer set" };
    }
    const key = record.keyId ? await this.keys.findActiveKey(record.keyId) : undefined;
    if (!key) return { ended: true, reason: "the API key was revoked" };
    return key.scope === "admin" ? { scope: "admin" } : { scope: "guild", guildIds: key.guildIds };
  }
}
