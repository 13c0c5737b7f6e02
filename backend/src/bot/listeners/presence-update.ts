import type { ClientPresenceStatusData } from "discord.js";
import type { ClientPlatform } from "../../ingest/event-records.ts";
import { defineListener } from "../bot-listener.ts";

const PLATFORMS: readonly ClientPlatform[] = ["desktop", "mobile", "web"];

/** The platforms a presence is active on, in a stable order. */
export function platformsOf(clientStatus: ClientPresenceStatusData | null): ClientPlatform[] {
  return PLATFORMS.filter((platform) => clientStatus?.[platform] !== undefined);
}

/** Records every presence change with its guild and the set of client platforms (desktop, mobile, web). */
export const presenceUpdateListener = defineListener({
  name: "presenceUpdate",
  event: "presenceUpdate",
  run({ ingest }, _oldPresence, presence) {
    // Presence rows without a guild mixed all guilds together in the original project: require one.
    if (!presence.guild || presence.user?.bot) return;
    ingest.write({
      kind: "presence",
      guildId: presence.guild.id,
      userId: presence.userId,
      status: presence.status,
      platforms: platformsOf(presence.clientStatus),
      createdAt: new Date(),
    });
  },
});
