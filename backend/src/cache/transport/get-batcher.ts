import type { Redis } from "ioredis";
import { type DeadlineWatch, WatchedCommand } from "./deadline-watch.ts";
import type { WriteCoalescer } from "./write-coalescer.ts";

/** Options of the hit path's GET and MGET: replies as UTF-8 strings, like `client.get`. */
const UTF8_REPLIES = { replyEncoding: "utf8" } as const;

/** Most keys in one MGET; a longer burst is split (Redis answers a huge MGET in one go, blocking others). */
const MAX_BATCH = 256;

/** One GET waiting for the end of its tick. */
interface QueuedGet {
  key: string;
  resolve(raw: string | null): void;
  reject(error: unknown): void;
}

/**
 * Sends the hit path's GETs of one tick as one MGET. With many reads in flight, one TCP read of Redis's replies
 * wakes many callers whose next GETs are all sent in the same tick; each GET costs ioredis a command object, a
 * reply to parse and a promise, and costs Redis a command to dispatch (Redis shares the machine's cores). A GET
 * that is the first command of its tick is sent at once, as a GET (a lone caller waits for nothing); the others
 * of that tick are queued and sent at the tick's end (the `WriteCoalescer`'s `process.nextTick`, after the tick's
 * promise continuations, so no caller waits for I/O or a timer; the batcher schedules no tick of its own) as one
 * MGET, whose array reply settles each of them, in the same socket write as the rest of the tick's burst.
 * Replies keep their order relative to each other; a GET queued before another command of the same tick may be
 * answered after it, which is allowed: neither call had resolved. Only for plain single-node connections (see
 * RedisGateway); every command is bounded by `watch`.
 */
export class GetBatcher {
  private queued: QueuedGet[] = [];

  constructor(
    private readonly client: Redis,
    private readonly watch: DeadlineWatch,
    private readonly coalescer: WriteCoalescer,
  ) {
    coalescer.onTickEnd = this.endTick;
  }

  /** GETs `key` (sent at once when it is the first command of its tick, else in the tick's MGET); `started`: performance.now(). */
  get(key: string, started: number): Promise<string | null> {
    if (this.coalescer.beforeCommand()) {
      const command = new WatchedCommand("get", [key], UTF8_REPLIES);
      this.client.sendCommand(command);
      this.watch.track(command, started);
      return command.promise as Promise<string | null>;
    }
    return new Promise<string | null>((resolve, reject) => {
      this.queued.push({ key, resolve, reject });
    });
  }

  private readonly endTick = (): void => {
    const queued = this.queued;
    if (queued.length === 0) return;
    this.queued = [];
    const sentAt = performance.now();
    for (let from = 0; from < queued.length; from += MAX_BATCH) {
      this.sendBatch(queued.length <= MAX_BATCH ? queued : queued.slice(from, from + MAX_BATCH), sentAt);
    }
  };

  private sendBatch(batch: QueuedGet[], sentAt: number): void {
    const keys = new Array<string>(batch.length);
    for (let i = 0; i < batch.length; i += 1) keys[i] = batch[i]!.key;
    const command = new WatchedCommand("mget", keys, UTF8_REPLIES);
    this.client.sendCommand(command);
    this.watch.track(command, sentAt);
    (command.promise as Promise<unknown>).then(
      (raws) => {
        if (!Array.isArray(raws) || raws.length !== batch.length) {
          // Never seen from Redis; if it happens, every caller must still be answered (a throw here would hang them).
          const error = new Error(
            `MGET answered ${Array.isArray(raws) ? `${raws.length} values for ${batch.length} keys` : "a non-array"}`,
          );
          for (const queued of batch) queued.reject(error);
          return;
        }
        for (let i = 0; i < batch.length; i += 1) batch[i]!.resolve((raws[i] as string | null) ?? null);
      },
      (error: unknown) => {
        for (const queued of batch) queued.reject(error);
      },
    );
  }
}
