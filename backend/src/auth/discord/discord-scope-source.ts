import type { SessionRecord } from "../sessions/session-record.ts";
import type { ScopeRefresh, SessionScopeSource } from "../sessions/session-scope-source.ts";
import type { TokenCipher } from "../sessions/token-cipher.ts";
import type { BotGuilds } from "./bot-guilds.ts";
import { DiscordTokenRejectedError, type DiscordOAuthClient } from "./discord-oauth-client.ts";
import { discordUserScope } from "./guild-scope.ts";
import { openDiscordTokens, sealDiscordTokens } from "./sealed-discord-tokens.ts";

/** Refreshes the access token when it expires within this many ms. */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * Re-reads a Discord session's scope: the user's guilds and permissions now, against the bot's guilds now. The
 * session ends when Discord rejects the user's tokens (revoked, app de-authorised), when they cannot be opened
 * (SESSION_SECRET changed), or when the user no longer moderates any guild with the bot. Rejects (old scope kept)
 * when Discord cannot be reached.
 */
export class DiscordScopeSource implements SessionScopeSource {
  constructor(
    private readonly deps: {
      client: DiscordOAuthClient;
      botGuilds: BotGuilds;
      cipher: TokenCipher;
      adminUserIds: ReadonlySet<string>;
    },
  ) {}

  async refresh(record: SessionRecord): Promise<ScopeRefresh> {
    const tokens = record.discordTokens ? openDiscordTokens(this.deps.cipher, record.discordTokens) : undefined;
    if (!tokens) return { ended: true, reason: "the stored Discord tokens cannot be read (SESSION_SECRET changed?)" };
    try {
      let current = tokens;
      let resealed: string | undefined;
      if (current.expiresAt - Date.now() < EXPIRY_MARGIN_MS) {
        if (!current.refreshToken) return { ended: true, reason: "the Discord access token expired" };
        current = await this.deps.client.refresh(current.refreshToken);
        resealed = sealDiscordTokens(this.deps.cipher, current);
      }
      const [guilds, botGuildIds] = await Promise.all([
        this.deps.client.userGuilds(current.accessToken),
        this.deps.botGuilds.ids(),
      ]);
      const scope = discordUserScope({
        userId: record.userId,
        guilds,
        botGuildIds,
        adminUserIds: this.deps.adminUserIds,
      });
      if (scope.scope === "guild" && scope.guildIds.length === 0)
        return { ended: true, reason: "the user no longer moderates a guild with the bot" };
      return { ...scope, ...(resealed ? { discordTokens: resealed } : {}) };
    } catch (error) {
      if (error instanceof DiscordTokenRejectedError) return { ended: true, reason: error.message };
      throw error;
    }
  }
}
