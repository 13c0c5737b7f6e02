/**
 * Which sockets listen to which guild, in this process. A fan-out of one update costs O(subscribers of that
 * guild), never a scan of every socket.
 */
export class GuildSubscriptions<Member> {
  private readonly byGuild = new Map<string, Set<Member>>();

  /** Adds `member` to `guildId`'s listeners (idempotent). */
  add(guildId: string, member: Member): void {
    let members = this.byGuild.get(guildId);
    if (!members) this.byGuild.set(guildId, (members = new Set()));
    members.add(member);
  }

  /** Removes `member` from `guildId`'s listeners; the guild's entry goes away with its last listener. */
  remove(guildId: string, member: Member): void {
    const members = this.byGuild.get(guildId);
    if (!members?.delete(member)) return;
    if (members.size === 0) this.byGuild.delete(guildId);
  }

  /** A snapshot of `guildId`'s listeners (safe to iterate while listeners leave). */
  listenersOf(guildId: string): Member[] {
    const members = this.byGuild.get(guildId);
    return members ? [...members] : [];
  }

  /** Guilds with at least one listener. */
  guilds(): string[] {
    return [...this.byGuild.keys()];
  }

  /** Number of (guild, listener) pairs. */
  size(): number {
    let total = 0;
    for (const members of this.byGuild.values()) total += members.size;
    return total;
  }
}
