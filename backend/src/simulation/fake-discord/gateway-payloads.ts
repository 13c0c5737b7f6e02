import type { FakeClientStatus, FakeGuild, FakeMember, FakeUser } from "./fake-discord-types.ts";

/**
 * Builders of the gateway payloads a fake Discord sends: READY, GUILD_CREATE, and the dispatch events SpyWatcher
 * listens to, with the fields discord.js 14 needs (see FACTS.md).
 */

/** A user object as the gateway sends it. */
export function userPayload(user: FakeUser): Record<string, unknown> {
  return {
    id: user.id,
    username: user.username,
    discriminator: "0",
    global_name: null,
    avatar: null,
    bot: user.bot ?? false,
  };
}

/** A member object as the gateway sends it. */
export function memberPayload(member: FakeMember, now = new Date()): Record<string, unknown> {
  return {
    user: userPayload(member.user),
    roles: member.roles,
    joined_at: member.joinedAt ?? now.toISOString(),
    deaf: false,
    mute: false,
    flags: 0,
  };
}

/** The READY dispatch for a bot user in `guilds` (unavailable until their GUILD_CREATE). */
export function readyPayload(options: {
  botUser: FakeUser;
  applicationId: string;
  guildIds: string[];
  sessionId: string;
  resumeUrl: string;
}) {
  return {
    v: 10,
    user: { ...userPayload({ ...options.botUser, bot: true }), verified: true, flags: 0 },
    guilds: options.guildIds.map((id) => ({ id, unavailable: true })),
    session_id: options.sessionId,
    resume_gateway_url: options.resumeUrl,
    application: { id: options.applicationId, flags: 0 },
    private_channels: [],
  };
}

/** The GUILD_CREATE dispatch of a guild with its channels, roles, listed members (not `requestOnlyMembers`) and presences. */
export function guildCreatePayload(guild: FakeGuild, now = new Date()): Record<string, unknown> {
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    owner_id: guild.members[0]?.user.id ?? guild.id,
    features: [],
    unavailable: false,
    // Like Discord: a guild whose GUILD_CREATE leaves members out is "large", and member_count counts everyone.
    large: (guild.requestOnlyMembers?.length ?? 0) > 0,
    member_count: guild.members.length + (guild.requestOnlyMembers?.length ?? 0),
    joined_at: now.toISOString(),
    channels: guild.channels.map((channel, position) => ({
      id: channel.id,
      type: channel.type ?? 0,
      name: channel.name,
      position,
      guild_id: guild.id,
      permission_overwrites: [],
    })),
    roles: guild.roles.map((role, position) => ({
      id: role.id,
      name: role.name,
      permissions: "0",
      position,
      color: 0,
      hoist: false,
      managed: false,
      mentionable: false,
      flags: 0,
    })),
    members: guild.members.map((member) => memberPayload(member, now)),
    presences: (guild.presences ?? []).map((presence) => ({
      user: { id: presence.userId },
      status: presence.status,
      activities: [],
      client_status: presence.clientStatus,
    })),
    voice_states: [],
    threads: [],
    stage_instances: [],
    guild_scheduled_events: [],
    emojis: [],
    stickers: [],
  };
}

/** MESSAGE_CREATE data; omit `guildId` for a direct message. Without `memberRoles` no member is sent, so cached roles stay as they are. */
export function messageCreateData(options: {
  id: string;
  channelId: string;
  guildId?: string;
  author: FakeUser;
  content?: string;
  at?: Date;
  webhookId?: string;
  /** The author's current role ids; when given, the partial `member` Discord sends is included (discord.js caches its roles). */
  memberRoles?: string[];
}): Record<string, unknown> {
  const content = options.content ?? "";
  const member =
    options.guildId && options.memberRoles
      ? { member: { roles: options.memberRoles, joined_at: new Date(0).toISOString(), deaf: false, mute: false } }
      : {};
  return {
    id: options.id,
    type: 0,
    channel_id: options.channelId,
    ...(options.guildId ? { guild_id: options.guildId } : {}),
    ...member,
    author: userPayload(options.author),
    content,
    timestamp: (options.at ?? new Date()).toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    embeds: [],
    pinned: false,
    ...(options.webhookId ? { webhook_id: options.webhookId } : {}),
  };
}

/** MESSAGE_DELETE data. */
export function messageDeleteData(options: {
  id: string;
  channelId: string;
  guildId: string;
}): Record<string, unknown> {
  return { id: options.id, channel_id: options.channelId, guild_id: options.guildId };
}

/**
 * TYPING_START data (`timestamp` is in seconds, as Discord sends it). Discord includes the member with its current
 * roles; pass `memberRoles` to do the same (discord.js overwrites its cached roles with them), or omit it to send
 * only `user_id`.
 */
export function typingStartData(options: {
  channelId: string;
  guildId: string;
  user: FakeUser;
  at?: Date;
  memberRoles?: string[];
}): Record<string, unknown> {
  return {
    channel_id: options.channelId,
    guild_id: options.guildId,
    user_id: options.user.id,
    timestamp: Math.floor((options.at ?? new Date()).getTime() / 1000),
    ...(options.memberRoles ? { member: memberPayload({ user: options.user, roles: options.memberRoles }) } : {}),
  };
}

/** PRESENCE_UPDATE data: a status and the platforms the user is on. */
export function presenceUpdateData(options: {
  guildId: string;
  userId: string;
  status: string;
  clientStatus: FakeClientStatus;
}): Record<string, unknown> {
  return {
    user: { id: options.userId },
    guild_id: options.guildId,
    status: options.status,
    activities: [],
    client_status: options.clientStatus,
  };
}

/** GUILD_MEMBER_UPDATE data: the member's full role list after the change. */
export function guildMemberUpdateData(options: {
  guildId: string;
  user: FakeUser;
  roles: string[];
}): Record<string, unknown> {
  return { guild_id: options.guildId, ...memberPayload({ user: options.user, roles: options.roles }) };
}

/** GUILD_MEMBER_ADD data. */
export function guildMemberAddData(options: {
  guildId: string;
  user: FakeUser;
  roles?: string[];
  joinedAt?: Date;
}): Record<string, unknown> {
  return {
    guild_id: options.guildId,
    ...memberPayload({
      user: options.user,
      roles: options.roles ?? [],
      joinedAt: (options.joinedAt ?? new Date()).toISOString(),
    }),
  };
}

/** CHANNEL_CREATE data of a direct-message channel with `recipient` (lets a test send a DM the bot can see). */
export function dmChannelCreateData(options: { id: string; recipient: FakeUser }): Record<string, unknown> {
  return { id: options.id, type: 1, recipients: [userPayload(options.recipient)], last_message_id: null };
}
