import type { DiscordOAuthClient } from "./discord-oauth-client.ts";

/**
 * The guilds the bot is in, read with the bot token from Discord's `/users/@me/guilds` (so API-only instances
 * without the bot running know them too) and kept in memory for `ttlMs`; concurrent readers share one request.
 */
export class BotGuilds {
  private cached: { ids: ReadonlySet<string>; at: number } | undefined;
  private pending: Promise<ReadonlySet<string>> | undefined;

  constructor(
    private readonly client: DiscordOAuthClient,
    private readonly botToken: string | undefined,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The bot's guild ids (empty without a bot token). Rejects when Discord cannot answer and nothing is cached. */
  async ids(): Promise<ReadonlySet<string>> {
    if (!this.botToken) return new Set();
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.ids;
    this.pending ??= this.client
      .botGuildIds(this.botToken)
      .then((ids) => {
        this.cached = { ids: new Set(ids), at: this.now() };
        return this.cached.ids;
      })
      .catch((error: unknown) => {
        // A stale list beats no sign-in while Discord hiccups.
        if (this.cached) return this.cached.ids;
        throw error;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }
}
