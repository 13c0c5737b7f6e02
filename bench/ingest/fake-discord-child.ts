import { createInterface } from "node:readline";
import { startFakeDiscord } from "../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import {
  messageCreateData,
  presenceUpdateData,
  typingStartData,
} from "../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { SnowflakeGenerator } from "../../backend/src/simulation/fake-discord/snowflake.ts";
import { buildSimulatedGuild } from "../../backend/src/simulation/simulated-guild.ts";

/**
 * The gateway side of the ingestion benchmark, in its own process as Discord is in production: a fake Discord
 * serving one guild. Reads commands on stdin: `send <n> <mix>` dispatches n events (mix "messages" or "mixed":
 * 60% messages, 30% typing, 10% presence changes), each of which becomes exactly one row; prints one JSON line per
 * command on stdout.
 */
const simulated = buildSimulatedGuild(Number(process.argv[2] ?? 7));
const { guild } = simulated;
// No initial presences: the first update of each user is then a change too.
guild.presences = [];
const fake = await startFakeDiscord({ guilds: [guild] });
const ids = new SnowflakeGenerator();
const humans = simulated.users.map((user) => user.user);
const onMobile = new Map<string, boolean>();

function event(index: number, mix: string): [string, Record<string, unknown>] {
  const author = humans[index % humans.length]!;
  const channelId = guild.channels[index % guild.channels.length]!.id;
  const roll = index % 10;
  if (mix === "messages" || roll < 6) {
    return [
      "MESSAGE_CREATE",
      messageCreateData({ id: ids.next(), channelId, guildId: guild.id, author, content: "benchmark message" }),
    ];
  }
  if (roll < 9) return ["TYPING_START", typingStartData({ channelId, guildId: guild.id, user: author })];
  // Alternate each user's platform so every update is a change (discord.js emits only changes).
  const mobile = !onMobile.get(author.id);
  onMobile.set(author.id, mobile);
  const clientStatus = mobile ? { mobile: "online" as const } : { desktop: "online" as const };
  return [
    "PRESENCE_UPDATE",
    presenceUpdateData({ guildId: guild.id, userId: author.id, status: "online", clientStatus }),
  ];
}

process.stdout.write(`${JSON.stringify({ apiUrl: fake.apiUrl, guildId: guild.id })}\n`);
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [command, count, mix] = line.trim().split(/\s+/);
  if (command === "wait") {
    await fake.waitForClient(30_000);
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  } else if (command === "send") {
    const started = performance.now();
    for (let i = 0; i < Number(count); i += 1) {
      const [type, data] = event(i, mix ?? "messages");
      fake.dispatch(type, data);
    }
    process.stdout.write(`${JSON.stringify({ sent: Number(count), ms: performance.now() - started })}\n`);
  } else if (command === "quit") {
    break;
  }
}
await fake.close();
process.exit(0);
