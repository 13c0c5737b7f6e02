import type {
  FakeClientStatus,
  FakeGuild,
  FakeUser,
} from "../../backend/src/simulation/fake-discord/fake-discord-types.ts";
import {
  guildMemberUpdateData,
  messageCreateData,
  presenceUpdateData,
  typingStartData,
} from "../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator, snowflakeAt } from "../../backend/src/simulation/fake-discord/snowflake.ts";

/** The kinds of event the busy-guild bench sends, one per analytics input. */
export type BusyEventKind = "message" | "typing" | "presence" | "roleChange";

/** One gateway dispatch. */
export interface Dispatch {
  type: string;
  data: Record<string, unknown>;
}

const CHANNELS = 5;
/** Users who talk and type (every one types during warm-up, so all of them are in the ghosts list). */
const TALKERS = 40;
/** Users who only change presence and roles: the lurkers, and the subjects of client and role drift. */
const WATCHERS = 60;
const PLATFORMS: (keyof FakeClientStatus)[] = ["desktop", "mobile", "web"];

/**
 * The busy guild: a fresh guild (random id, so runs never share rows) with 5 channels, one grantable role,
 * 40 talkers and 60 watchers, and the dispatches of each event kind. Every presence update gives a watcher one
 * more platform (desktop, then mobile, then web), so the clients analytic's platform sets keep growing and its
 * freshness can be counted like the others.
 */
export class BusyGuild {
  readonly guild: FakeGuild;
  readonly talkers: FakeUser[];
  readonly watchers: FakeUser[];
  private readonly grantableRoleId: string;
  private readonly watcherRoles = new Map<string, string[]>();
  private readonly ids = new SnowflakeGenerator();
  private readonly counters: Record<BusyEventKind, number> = { message: 0, typing: 0, presence: 0, roleChange: 0 };

  constructor(now = Date.now()) {
    // A creation time in the last year with a random sequence: a valid snowflake no other run uses.
    const base = now - Math.floor(Math.random() * 365 * 86_400_000);
    const guildId = snowflakeAt(base, Math.floor(Math.random() * 4096));
    const user = (index: number, name: string): FakeUser => ({
      id: snowflakeAt(base - 86_400_000 - index, index % 4096),
      username: name,
    });
    this.talkers = Array.from({ length: TALKERS }, (_, index) => user(index, `talker${index}`));
    this.watchers = Array.from({ length: WATCHERS }, (_, index) => user(TALKERS + index, `watcher${index}`));
    this.grantableRoleId = snowflakeAt(base + 1, 1);
    const channels = Array.from({ length: CHANNELS }, (_, index) => ({
      id: snowflakeAt(base + 2, index),
      name: `busy-${index}`,
    }));
    for (const watcher of this.watchers) this.watcherRoles.set(watcher.id, []);
    this.guild = {
      id: guildId,
      name: "Busy Guild (bench)",
      channels,
      roles: [
        { id: guildId, name: "@everyone" },
        { id: this.grantableRoleId, name: "regular" },
      ],
      members: [...this.talkers, ...this.watchers].map((member) => ({ user: member, roles: [] })),
      // No presences at start: each watcher's first PRESENCE_UPDATE is a change discord.js emits.
      presences: [],
    };
  }

  /** How many dispatches of each kind were made so far. */
  dispatched(): Readonly<Record<BusyEventKind, number>> {
    return { ...this.counters };
  }

  /** The next dispatch of `kind`. */
  next(kind: BusyEventKind): Dispatch {
    const sequence = this.counters[kind]++;
    switch (kind) {
      case "message":
        return this.message(sequence);
      case "typing":
        return this.typing(this.talkers[sequence % TALKERS]!, sequence);
      case "presence":
        return this.presence(sequence);
      case "roleChange":
        return this.roleChange(sequence);
    }
  }

  private channelId(sequence: number): string {
    return this.guild.channels[sequence % CHANNELS]!.id;
  }

  private message(sequence: number): Dispatch {
    const author = this.talkers[sequence % TALKERS]!;
    // The id carries the time discord.js reads as the message's creation time, so it must be "now".
    const id = this.ids.next();
    return {
      type: "MESSAGE_CREATE",
      data: messageCreateData({
        id,
        channelId: this.channelId(sequence),
        guildId: this.guild.id,
        author,
        content: "busy",
        memberRoles: [],
      }),
    };
  }

  private typing(user: FakeUser, sequence: number): Dispatch {
    return {
      type: "TYPING_START",
      data: typingStartData({ channelId: this.channelId(sequence), guildId: this.guild.id, user, memberRoles: [] }),
    };
  }

  private presence(sequence: number): Dispatch {
    const watcher = this.watchers[sequence % WATCHERS]!;
    // Round r of the watchers puts each on platform r mod 3: consecutive updates of a watcher always differ.
    const platform = PLATFORMS[Math.floor(sequence / WATCHERS) % PLATFORMS.length]!;
    return {
      type: "PRESENCE_UPDATE",
      data: presenceUpdateData({
        guildId: this.guild.id,
        userId: watcher.id,
        status: "online",
        clientStatus: { [platform]: "online" },
      }),
    };
  }

  private roleChange(sequence: number): Dispatch {
    const watcher = this.watchers[sequence % WATCHERS]!;
    // Toggle the role: the update carries the full role list after the change, so each one is one recorded change.
    const roles = this.watcherRoles.get(watcher.id)!.length === 0 ? [this.grantableRoleId] : [];
    this.watcherRoles.set(watcher.id, roles);
    return {
      type: "GUILD_MEMBER_UPDATE",
      data: guildMemberUpdateData({ guildId: this.guild.id, user: watcher, roles }),
    };
  }

  /** One TYPING_START per talker: sent during warm-up so every talker is in the ghosts list from the start. */
  warmUpTyping(): Dispatch[] {
    return this.talkers.map((talker, index) => {
      this.counters.typing += 1;
      return this.typing(talker, index);
    });
  }
}
