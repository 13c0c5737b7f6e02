import pg from "pg";
import { startFakeDiscord, type FakeDiscord } from "../../backend/src/simulation/fake-discord/fake-discord-server.ts";
import { messageCreateData } from "../../backend/src/simulation/fake-discord/gateway-payloads.ts";
import { testGuild, uniqueSnowflake, type TestGuild } from "./fake-discord-guild.ts";
import { TEST_DATABASE_URL } from "./test-env.ts";

/**
 * Drives Discord events into a service process and counts them: a fake Discord (the one simulated mode uses) serving
 * one test guild, which the service's real bot logs in to (`serviceEnv()`), and a MESSAGE_CREATE stream with unique
 * message ids. `sent` counts only dispatches a connected bot received; `storedMessages()` counts this guild's rows
 * in PostgreSQL, read directly (not through any fault proxy).
 */
export class DiscordDriver {
  private sentCount = 0;
  private ticker: NodeJS.Timeout | undefined;
  private readonly db: pg.Client;

  private constructor(
    readonly fake: FakeDiscord,
    readonly guild: TestGuild,
    db: pg.Client,
  ) {
    this.db = db;
  }

  /** Starts the fake Discord with a fresh guild and opens a direct database connection for counting. */
  static async start(): Promise<DiscordDriver> {
    const guild = testGuild();
    const fake = await startFakeDiscord({ guilds: [guild.guild] });
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    return new DiscordDriver(fake, guild, db);
  }

  /** Environment for the service process: its bot logs in to this fake Discord. */
  serviceEnv(): NodeJS.ProcessEnv {
    return { DISCORD_ENABLED: "true", DISCORD_TOKEN: "fault-test-token", DISCORD_API_URL: this.fake.apiUrl };
  }

  /** Resolves once a bot has identified and received the guild. */
  waitForBot(timeoutMs = 20_000): Promise<void> {
    return this.fake.waitForClient(timeoutMs);
  }

  /** Messages dispatched to at least one connected bot so far. */
  get sent(): number {
    return this.sentCount;
  }

  /** Dispatches `count` messages at once; returns how many a bot received. */
  sendMessages(count: number): number {
    let received = 0;
    for (let i = 0; i < count; i += 1) {
      const author = this.guild.humans[i % this.guild.humans.length]!;
      const data = messageCreateData({
        id: uniqueSnowflake(),
        channelId: this.guild.channelIds[i % 2]!,
        guildId: this.guild.guild.id,
        author,
        content: "fault",
      });
      if (this.fake.dispatch("MESSAGE_CREATE", data) > 0) received += 1;
    }
    this.sentCount += received;
    return received;
  }

  /** Streams messages at `perSecond` (in 20 ms ticks) until `stopStream()`. */
  startStream(perSecond: number): void {
    this.stopStream();
    let owed = 0;
    let last = performance.now();
    this.ticker = setInterval(() => {
      const now = performance.now();
      owed += ((now - last) / 1000) * perSecond;
      last = now;
      const whole = Math.floor(owed);
      owed -= whole;
      if (whole > 0) this.sendMessages(whole);
    }, 20);
  }

  /** Stops the stream (nothing more is sent after this returns). */
  stopStream(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }

  /** This guild's rows in message_events. */
  async storedMessages(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM message_events WHERE guild_id = $1",
      [this.guild.guild.id],
    );
    return rows[0]!.n;
  }

  /** Polls until `storedMessages()` reaches `count` (no event tells the test a commit happened); returns the last count. */
  async waitForStored(count: number, timeoutMs = 20_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const stored = await this.storedMessages();
      if (stored >= count || performance.now() > deadline) return stored;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Stops the stream, closes the fake Discord and the database connection. */
  async close(): Promise<void> {
    this.stopStream();
    await this.fake.close();
    await this.db.end();
  }
}
