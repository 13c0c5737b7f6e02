import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createDiscordBot } from "../../backend/src/bot/discord-bot.ts";
import { runMigrations } from "../../backend/src/db/migrator.ts";
import { createPrismaClient } from "../../backend/src/db/prisma-client.ts";
import type { IngestEvent } from "../../backend/src/ingest/event-records.ts";
import { createIngestRepository } from "../../backend/src/ingest/ingest-repository.ts";
import { IngestionWriter } from "../../backend/src/ingest/ingestion-writer.ts";
import { createLogger } from "../../backend/src/logging/logger.ts";
import { SnowflakeGenerator } from "../../backend/src/simulation/fake-discord/snowflake.ts";

/**
 * Ingestion throughput: events per second from the Discord gateway to durable PostgreSQL rows, through the real
 * discord.js client, the six listeners, the ingestion writer and its repository. A fake Discord in a child process
 * plays the gateway. Two limits measured in the same run frame the figure: discord.js alone (listeners writing to
 * a no-op sink) and PostgreSQL alone (the writer fed prebuilt records).
 *
 *   BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/spywatcher_bench npx tsx bench/ingest/ingest-throughput.ts
 *
 * Options (env): BENCH_EVENTS (default 50000 per round), BENCH_ROUNDS (3), INGEST_BATCH_SIZE (2000, the writer's default).
 */
const databaseUrl = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spywatcher_bench";
const events = Number(process.env.BENCH_EVENTS ?? 50_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const batchSize = Number(process.env.INGEST_BATCH_SIZE ?? 2_000);
const logger = createLogger({ level: "warn" });

await runMigrations({ databaseUrl });
const prisma = createPrismaClient({ url: databaseUrl });

const child = spawn(
  process.execPath,
  ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("./fake-discord-child.ts", import.meta.url))],
  {
    stdio: ["pipe", "pipe", "inherit"],
  },
);
const replies = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
const ask = async (command?: string): Promise<Record<string, unknown>> => {
  if (command) child.stdin!.write(`${command}\n`);
  const { value, done } = await replies.next();
  if (done) throw new Error("fake discord child exited");
  return JSON.parse(value as string);
};
const { apiUrl } = (await ask()) as { apiUrl: string };

/** Counts what the listeners hand over, and forwards to the writer when there is one. */
let handed = 0;
let writer: IngestionWriter | undefined;
const sink = {
  write: (event: IngestEvent) => {
    handed += 1;
    return writer ? writer.write(event) : true;
  },
};
const bot = createDiscordBot({ token: "bench", apiUrl, logger, ingest: sink });
const readyReply = ask("wait");
await bot.start();
await readyReply;

const until = async (condition: () => boolean, describe: () => string) => {
  const deadline = performance.now() + 120_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`benchmark stalled: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};

async function gatewayToRows(mix: string): Promise<number> {
  writer = new IngestionWriter({
    repository: createIngestRepository(prisma),
    logger,
    batchSize,
    maxBufferedRows: events * 2,
  });
  const started = performance.now();
  await ask(`send ${events} ${mix}`);
  await until(
    () => writer!.stats().accepted + writer!.stats().dropped >= events,
    () => JSON.stringify(writer!.stats()),
  );
  await writer.flush();
  const elapsed = performance.now() - started;
  const stats = writer.stats();
  if (stats.written !== events)
    throw new Error(`expected ${events} rows, wrote ${stats.written} (${JSON.stringify(stats)})`);
  await writer.close();
  writer = undefined;
  return events / (elapsed / 1000);
}

async function discordJsOnly(mix: string): Promise<number> {
  const before = handed;
  const started = performance.now();
  await ask(`send ${events} ${mix}`);
  await until(
    () => handed - before >= events,
    () => `${handed - before} of ${events} handed over`,
  );
  return events / ((performance.now() - started) / 1000);
}

async function postgresOnly(): Promise<number> {
  const ids = new SnowflakeGenerator();
  const records: IngestEvent[] = Array.from({ length: events }, (_, i) =>
    i % 10 < 6
      ? {
          kind: "message",
          messageId: ids.next(),
          guildId: "1",
          channelId: "2",
          userId: String(i % 24),
          contentLength: 17,
          createdAt: new Date(),
        }
      : { kind: "typing", guildId: "1", channelId: "2", userId: String(i % 24), startedAt: new Date() },
  );
  const only = new IngestionWriter({
    repository: createIngestRepository(prisma),
    logger,
    batchSize,
    maxBufferedRows: events * 2,
  });
  const started = performance.now();
  for (const record of records) only.write(record);
  await only.flush();
  const rate = events / ((performance.now() - started) / 1000);
  await only.close();
  return rate;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const results: Record<string, number[]> = {
  "gateway -> rows (messages)": [],
  "gateway -> rows (mixed)": [],
  "limit: discord.js only (mixed)": [],
  "limit: PostgreSQL only (mixed)": [],
};
// Warm-up round (JIT, connection pool, PostgreSQL caches), not counted.
await gatewayToRows("mixed");
for (let round = 0; round < rounds; round += 1) {
  results["gateway -> rows (messages)"]!.push(await gatewayToRows("messages"));
  results["gateway -> rows (mixed)"]!.push(await gatewayToRows("mixed"));
  results["limit: discord.js only (mixed)"]!.push(await discordJsOnly("mixed"));
  results["limit: PostgreSQL only (mixed)"]!.push(await postgresOnly());
}

const limit = Math.min(
  median(results["limit: discord.js only (mixed)"]!),
  median(results["limit: PostgreSQL only (mixed)"]!),
);
console.log(`\ningestion throughput: ${events} events per round, ${rounds} rounds (median), batch size ${batchSize}\n`);
console.log("| measure | events/s (median) | min | max | vs slower limit |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const [name, values] of Object.entries(results)) {
  const ratio = (median(values) / limit).toFixed(2);
  console.log(
    `| ${name} | ${Math.round(median(values))} | ${Math.round(Math.min(...values))} | ${Math.round(Math.max(...values))} | ${ratio}x |`,
  );
}
const mixed = median(results["gateway -> rows (mixed)"]!);
console.log(
  `\ntarget >= 10,000 events/s gateway -> durable rows (mixed): ${mixed >= 10_000 ? "MET" : "NOT MET"} (${Math.round(mixed)}/s)`,
);

child.stdin!.end("quit\n");
await bot.stop();
await prisma.$disconnect();
if (child.exitCode === null) await once(child, "exit");
console.log(
  JSON.stringify(
    Object.fromEntries(Object.entries(results).map(([name, values]) => [name, Math.round(median(values))])),
  ),
);
// Everything this script opened is closed above; exit explicitly in case a library keeps a handle open.
process.exit(0);
