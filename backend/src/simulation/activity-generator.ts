import type { FakeClientStatus, FakeUser } from "./fake-discord/fake-discord-types.ts";
import {
  guildMemberAddData,
  guildMemberUpdateData,
  messageCreateData,
  messageDeleteData,
  presenceUpdateData,
  typingStartData,
} from "./fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator, snowflakeAt } from "./fake-discord/snowflake.ts";
import type { SimulatedGuild, SimulatedUser } from "./simulated-guild.ts";

/** One gateway dispatch to send. */
export interface SimulatedDispatch {
  type: string;
  data: Record<string, unknown>;
}

type Action = "regularTalk" | "regularType" | "ghostType" | "ghostTalk" | "presence" | "roleChange" | "join" | "delete";

/** How often each action happens, in parts of 100. */
const ACTION_WEIGHTS: [Action, number][] = [
  ["regularTalk", 30],
  ["regularType", 22],
  ["ghostType", 18],
  ["ghostTalk", 1],
  ["presence", 18],
  ["roleChange", 5],
  ["join", 2],
  ["delete", 4],
];

const PLATFORM_SETS: FakeClientStatus[] = [
  { desktop: "online" },
  { mobile: "online" },
  { web: "online" },
  { desktop: "online", mobile: "online" },
  { desktop: "idle" },
  { mobile: "dnd" },
];
const MAX_USERS = 200;

/**
 * Produces realistic guild activity for the simulated guild: regulars type and talk, ghosts type a lot and almost
 * never post, lurkers only change presence across platforms, roles come and go, new members join, messages get
 * deleted. It mutates the guild's member list so a client that connects later receives the current state.
 */
export class ActivityGenerator {
  private readonly ids = new SnowflakeGenerator();
  private readonly recentMessages: { id: string; channelId: string }[] = [];
  private joined = 0;

  constructor(
    private readonly simulated: SimulatedGuild,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next event. */
  next(): SimulatedDispatch {
    const action = this.pickAction();
    const { guild } = this.simulated;
    const channelId = this.pick(guild.channels).id;
    switch (action) {
      case "regularTalk":
      case "ghostTalk":
        return this.message(this.pickUser(action === "ghostTalk" ? "ghost" : "regular"), channelId);
      case "regularType":
      case "ghostType": {
        const user = this.pickUser(action === "ghostType" ? "ghost" : "regular");
        return {
          type: "TYPING_START",
          data: typingStartData({ channelId, guildId: guild.id, user, memberRoles: this.rolesOf(user) }),
        };
      }
      case "presence": {
        const user = this.pickUser(this.random() < 0.6 ? "lurker" : "regular");
        const clientStatus = this.pick(PLATFORM_SETS);
        const status = Object.values(clientStatus)[0] ?? "online";
        return {
          type: "PRESENCE_UPDATE",
          data: presenceUpdateData({ guildId: guild.id, userId: user.id, status, clientStatus }),
        };
      }
      case "roleChange":
        return this.roleChange();
      case "join":
        return this.join();
      case "delete": {
        const message = this.recentMessages.splice(Math.floor(this.random() * this.recentMessages.length), 1)[0];
        // Nothing to delete yet: talk instead.
        if (!message) return this.message(this.pickUser("regular"), channelId);
        return {
          type: "MESSAGE_DELETE",
          data: messageDeleteData({ id: message.id, channelId: message.channelId, guildId: guild.id }),
        };
      }
    }
  }

  private message(author: FakeUser, channelId: string): SimulatedDispatch {
    const id = this.ids.next();
    this.recentMessages.push({ id, channelId });
    if (this.recentMessages.length > 100) this.recentMessages.shift();
    const words = 1 + Math.floor(this.random() * 20);
    return {
      type: "MESSAGE_CREATE",
      data: messageCreateData({
        id,
        channelId,
        guildId: this.simulated.guild.id,
        author,
        content: "lorem ".repeat(words).trim(),
        memberRoles: this.rolesOf(author),
      }),
    };
  }

  private roleChange(): SimulatedDispatch {
    const { guild, grantableRoleIds } = this.simulated;
    const member = this.pick(guild.members);
    const roleId = this.pick(grantableRoleIds);
    // Toggle one role: the update carries the member's full role list after the change.
    member.roles = member.roles.includes(roleId)
      ? member.roles.filter((id) => id !== roleId)
      : [...member.roles, roleId];
    return {
      type: "GUILD_MEMBER_UPDATE",
      data: guildMemberUpdateData({ guildId: guild.id, user: member.user, roles: member.roles }),
    };
  }

  private join(): SimulatedDispatch {
    const { guild, users } = this.simulated;
    this.joined += 1;
    const ageDays = Math.floor(this.random() * 900);
    // The id encodes the account's creation time, so it is made directly rather than by the (increasing) generator.
    const user: FakeUser = {
      id: snowflakeAt(Date.now() - ageDays * 86_400_000, this.joined),
      username: `newcomer${this.joined}`,
    };
    // Keep the guild bounded in long runs: newcomers beyond the cap join but are not remembered as members.
    if (guild.members.length < MAX_USERS) {
      guild.members.push({ user, roles: [] });
      users.push({ user, persona: this.random() < 0.5 ? "lurker" : "regular" });
    }
    return { type: "GUILD_MEMBER_ADD", data: guildMemberAddData({ guildId: guild.id, user }) };
  }

  /** The member's current roles, sent along with its messages and typing as Discord does. */
  private rolesOf(user: FakeUser): string[] {
    return this.simulated.guild.members.find((member) => member.user.id === user.id)?.roles ?? [];
  }

  private pickAction(): Action {
    let roll = this.random() * 100;
    for (const [action, weight] of ACTION_WEIGHTS) {
      roll -= weight;
      if (roll < 0) return action;
    }
    return "regularTalk";
  }

  private pickUser(persona: SimulatedUser["persona"]): FakeUser {
    const candidates = this.simulated.users.filter((user) => user.persona === persona);
    return this.pick(candidates).user;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }
}
