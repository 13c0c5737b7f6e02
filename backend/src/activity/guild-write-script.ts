import type { StructureBatch } from "../cache/structures/structure-batch.ts";
import { RECORD_GUILD_ACTIVITY } from "./activity-scripts.ts";

/** Arguments per script call: a call stays about a millisecond of Redis time, so other clients are not held up. */
const MAX_ARGS_PER_CALL = 4_096;

/**
 * Builds the RECORD_GUILD_ACTIVITY calls of one guild's flush on a batch: the operations are encoded as arguments
 * (see activity-scripts.ts), keys as indexes into KEYS. A large aggregate is cut into several calls of at most
 * MAX_ARGS_PER_CALL arguments; each call is atomic, together they are as atomic as a pipeline.
 */
export class GuildWriteScript {
  private keys: string[] = [];
  private keyIndex = new Map<string, number>();
  private args: (string | number)[] = [];

  constructor(private readonly batch: StructureBatch) {}

  /** HINCRBY key field by. */
  hincrby(key: string, field: string, by: number): void {
    this.room(4);
    this.args.push("h", this.indexOf(key), field, Math.trunc(by));
  }

  /** INCRBY key by. */
  incrby(key: string, by: number): void {
    this.room(3);
    this.args.push("i", this.indexOf(key), Math.trunc(by));
  }

  /** PEXPIREAT key atMs. */
  expireAt(key: string, atMs: number): void {
    this.room(3);
    this.args.push("x", this.indexOf(key), Math.ceil(atMs));
  }

  /** ZINCRBY of every member's amount on each of `keys` (a board's day, week and month sets). */
  zincrby(keys: readonly string[], members: ReadonlyMap<string, number>): void {
    if (keys.length === 0 || members.size === 0) return;
    let count = 0;
    let countAt = -1;
    for (const [member, by] of members) {
      if (countAt < 0 || this.args.length + 2 > MAX_ARGS_PER_CALL) {
        // Start (or, past the bound, continue in a new call) a group of members for these keys.
        if (countAt >= 0) this.args[countAt] = count;
        this.room(keys.length + 5);
        this.args.push("z", keys.length, ...keys.map((key) => this.indexOf(key)), 0);
        countAt = this.args.length - 1;
        count = 0;
      }
      this.args.push(member, by);
      count += 1;
    }
    this.args[countAt] = count;
  }

  /** ZADD NX day of a user's active days, and its expiry refreshed to `ttlMs`. */
  activeDay(key: string, day: number, ttlMs: number): void {
    this.room(4);
    this.args.push("d", this.indexOf(key), day, Math.ceil(ttlMs));
  }

  /** Queues the last call. */
  finish(): void {
    if (this.args.length > 0) this.batch.script(RECORD_GUILD_ACTIVITY, this.keys, this.args);
    this.keys = [];
    this.keyIndex = new Map();
    this.args = [];
  }

  /** Ends the current call first when `args` more arguments would not fit in it. */
  private room(args: number): void {
    if (this.args.length + args > MAX_ARGS_PER_CALL) this.finish();
  }

  private indexOf(key: string): number {
    let index = this.keyIndex.get(key);
    if (index === undefined) {
      this.keys.push(key);
      index = this.keys.length;
      this.keyIndex.set(key, index);
    }
    return index;
  }
}
