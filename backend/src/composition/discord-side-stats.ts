import type { ListenerStats } from "../bot/bot-listener.ts";
import type { GuildMemberLoaderStats } from "../bot/guild-member-loader.ts";
import type { IngestStats } from "../ingest/ingestion-writer.ts";
import type { InvalidationStats } from "../invalidation/cache-invalidation-service.ts";

/** Counters of the whole Discord side. */
export interface DiscordSideStats {
  simulated: boolean;
  listeners: ListenerStats;
  /** Guild member list fetches (op 8) that make role changes of members missing from GUILD_CREATE recordable. */
  memberFetch: GuildMemberLoaderStats;
  ingest: IngestStats;
  invalidation: InvalidationStats;
}
