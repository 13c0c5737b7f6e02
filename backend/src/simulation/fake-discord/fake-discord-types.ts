/** The shapes of the guild a fake Discord serves: the minimum Discord's gateway sends for discord.js to cache it. */

/** A user (human or bot). Ids must be numeric snowflakes: discord.js derives times from them. */
export interface FakeUser {
  id: string;
  username: string;
  bot?: boolean;
}

/** A guild channel; type 0 is a text channel (default). */
export interface FakeChannel {
  id: string;
  name: string;
  type?: number;
}

/** A guild role; the @everyone role's id equals the guild id. */
export interface FakeRole {
  id: string;
  name: string;
}

/** A guild member: a user and the ids of its roles. */
export interface FakeMember {
  user: FakeUser;
  roles: string[];
  /** ISO time of joining (default: when the guild is served). */
  joinedAt?: string;
}

/** Client status per platform, as in Discord's `client_status`. */
export type FakeClientStatus = Partial<Record<"desktop" | "mobile" | "web", "online" | "idle" | "dnd">>;

/** A member's presence when the guild is first served. */
export interface FakePresence {
  userId: string;
  status: "online" | "idle" | "dnd" | "offline";
  clientStatus: FakeClientStatus;
}

/** A guild as served in GUILD_CREATE. */
export interface FakeGuild {
  id: string;
  name: string;
  channels: FakeChannel[];
  roles: FakeRole[];
  /** Members sent in GUILD_CREATE. */
  members: FakeMember[];
  /**
   * Members left out of GUILD_CREATE, as Discord does for a large guild (it sends only some members): counted in
   * `member_count` (and the guild is marked `large`), returned only on request (gateway op 8 REQUEST_GUILD_MEMBERS,
   * answered with GUILD_MEMBERS_CHUNK dispatches). Default none.
   */
  requestOnlyMembers?: FakeMember[];
  presences?: FakePresence[];
}

/** One gateway op 8 REQUEST_GUILD_MEMBERS a client sent, as the fake Discord received it. */
export interface FakeMemberRequest {
  guildId: string;
  /** Username prefix; "" with `limit` 0 asks for every member. */
  query: string | undefined;
  /** Most members to return; 0 = no limit. */
  limit: number;
  /** Specific users asked for (instead of `query`). */
  userIds: string[] | undefined;
  /** Whether presences of the returned members were asked for. */
  presences: boolean;
  /** Echoed in every chunk of the answer so the client can match it. */
  nonce: string | undefined;
}
