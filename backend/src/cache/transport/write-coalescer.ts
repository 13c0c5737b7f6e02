import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../../redis/redis-connections.ts";
import { socketOf } from "./ioredis-internals.ts";

/**
 * Sends the commands a single-node connection is given in one tick with at most two socket writes. Without it,
 * every command is its own write system call: with 50 reads in flight, the replies of one TCP read wake 50
 * callers whose next GETs then cost 50 writes, which measured as the largest single cost of an L2 hit. The first
 * command of a tick is written at once (a lone caller pays nothing and waits for nothing); from the second one on,
 * the socket is corked until `process.nextTick`, which runs once the current promise continuations are done, so
 * the rest of the burst leaves in one write and no command waits for I/O or timers. Order is unchanged (ioredis
 * queues each command before writing it). Cluster connections are left as they are: their sockets belong to
 * per-node connections ioredis manages. The end of a tick is also the `GetBatcher`'s (`onTickEnd`): one
 * `process.nextTick` per tick serves both, so a sequential caller's read schedules one, not two.
 */
export class WriteCoalescer {
  private readonly single: Redis | undefined;
  /** A command was already sent in this tick (reset by `endTick`). */
  private sentThisTick = false;
  private corked: Redis["stream"] | undefined;
  /** Runs at the end of every tick that sent a command, before the socket is uncorked (what it sends joins the write). */
  onTickEnd: (() => void) | undefined;
  private readonly endTick = (): void => {
    this.sentThisTick = false;
    this.onTickEnd?.();
    const stream = this.corked;
    this.corked = undefined;
    stream?.uncork();
  };

  constructor(client: RedisClient) {
    this.single = (client as Cluster).isCluster === true ? undefined : (client as Redis);
  }

  /** Call right before sending a command; true when it is the first of its tick (or on a cluster: never batched). */
  beforeCommand(): boolean {
    if (this.single === undefined) return true;
    if (this.corked !== undefined) return false;
    if (!this.sentThisTick) {
      this.sentThisTick = true;
      process.nextTick(this.endTick);
      return true;
    }
    const stream = socketOf(this.single);
    // Not connected (or reconnecting): ioredis fails or queues the command itself; nothing to batch.
    if (stream === undefined || stream === null || !stream.writable) return false;
    stream.cork();
    this.corked = stream;
    return false;
  }
}
