import type { FakeGuild, FakeMember, FakeMemberRequest } from "./fake-discord-types.ts";
import { memberPayload } from "./gateway-payloads.ts";

/**
 * How the fake Discord answers gateway op 8 REQUEST_GUILD_MEMBERS the way Discord does: the matching members of the
 * guild (listed in GUILD_CREATE or not) in GUILD_MEMBERS_CHUNK dispatches of at most 1,000 members, each carrying
 * `guild_id`, `members`, `chunk_index`, `chunk_count` and the request's `nonce`.
 */

/** Most members Discord puts in one GUILD_MEMBERS_CHUNK. */
export const MEMBERS_PER_CHUNK = 1_000;

/** Reads the `d` of an op 8 payload; undefined when it names no guild (Discord would ignore it too). */
export function parseMemberRequest(data: unknown): FakeMemberRequest | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const d = data as Record<string, unknown>;
  // discord.js 14 sends one guild id; the gateway once accepted an array, so take its first element too.
  const guildId = Array.isArray(d.guild_id) ? d.guild_id[0] : d.guild_id;
  if (typeof guildId !== "string") return undefined;
  const userIds = d.user_ids === undefined || d.user_ids === null ? undefined : [d.user_ids].flat().map(String);
  return {
    guildId,
    query: typeof d.query === "string" ? d.query : undefined,
    limit: typeof d.limit === "number" ? d.limit : 0,
    userIds,
    presences: d.presences === true,
    nonce: typeof d.nonce === "string" ? d.nonce : undefined,
  };
}

/** Every member of `guild`: those sent in GUILD_CREATE, then those served only on request. */
export function allGuildMembers(guild: FakeGuild): FakeMember[] {
  return [...guild.members, ...(guild.requestOnlyMembers ?? [])];
}

/** The data of each GUILD_MEMBERS_CHUNK answering `request` (always at least one chunk, possibly empty, like Discord). */
export function guildMembersChunks(
  guild: FakeGuild,
  request: FakeMemberRequest,
  now = new Date(),
): Record<string, unknown>[] {
  let matched: FakeMember[];
  let notFound: string[] = [];
  if (request.userIds) {
    const byId = new Map(allGuildMembers(guild).map((member) => [member.user.id, member]));
    matched = request.userIds.flatMap((id) => byId.get(id) ?? []);
    notFound = request.userIds.filter((id) => !byId.has(id));
  } else {
    const prefix = (request.query ?? "").toLowerCase();
    matched = allGuildMembers(guild).filter((member) => member.user.username.toLowerCase().startsWith(prefix));
  }
  if (request.limit > 0) matched = matched.slice(0, request.limit);

  const presences = new Map((guild.presences ?? []).map((presence) => [presence.userId, presence]));
  const chunkCount = Math.max(1, Math.ceil(matched.length / MEMBERS_PER_CHUNK));
  return Array.from({ length: chunkCount }, (_, index) => {
    const members = matched.slice(index * MEMBERS_PER_CHUNK, (index + 1) * MEMBERS_PER_CHUNK);
    return {
      guild_id: guild.id,
      members: members.map((member) => memberPayload(member, now)),
      chunk_index: index,
      chunk_count: chunkCount,
      ...(index === 0 && notFound.length > 0 ? { not_found: notFound } : {}),
      ...(request.presences
        ? {
            presences: members.flatMap((member) => {
              const presence = presences.get(member.user.id);
              return presence
                ? [
                    {
                      user: { id: presence.userId },
                      status: presence.status,
                      activities: [],
                      client_status: presence.clientStatus,
                    },
                  ]
                : [];
            }),
          }
        : {}),
      ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
    };
  });
}

/** The data of the RATE_LIMITED dispatch Discord sends instead of chunks when op 8 is sent too often. */
export function memberRequestRateLimitedData(
  request: FakeMemberRequest,
  retryAfterSeconds: number,
): Record<string, unknown> {
  return {
    opcode: 8,
    retry_after: retryAfterSeconds,
    meta: { guild_id: request.guildId, ...(request.nonce !== undefined ? { nonce: request.nonce } : {}) },
  };
}
