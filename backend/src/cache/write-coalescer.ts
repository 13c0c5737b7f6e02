import type { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../redis/redis-connections.ts";

/**
 * Sends the commands a single-node connection is given in one tick with one socket write. Without it, every
 * command is its own write system call: with 50 reads in flight, the replies of one TCP read wake 50 callers
 * whose next GETs then cost 50 writes, which measured as the largest single cost of an L2 hit. The socket is
 * corked before the first command of a tick and uncorked on `process.nextTick`, which runs once the current
 * promise continuations are done, so a lone command is written at once and no command waits for I/O or timers.
 * Order is unchanged (ioredis queues the command before writing it). Cluster connections are left as they are:
 * their sockets belong to per-node connections ioredis manages.
 */
export class WriteCoalescer {
  private readonly single: Redis | undefined;
  private corked: Redis["stream"] | undefined;
  private readonly uncork = (): void => {
    const stream = this.corked;
    this.corked = undefined;
    stream?.uncork();
  };

  constructor(client: RedisClient) {
    this.single = (client as Cluster).isCluster === true ? undefined : (client as Redis);
  }

  /** Call right before sending a command: the first call of a tick corks the socket until the tick ends. */
  beforeCommand(): void {
    if (this.corked !== undefined || this.single === undefined) return;
    const stream = this.single.stream;
    // Not connected (or reconnecting): ioredis fails or queues the command itself; nothing to batch.
    if (stream === undefined || stream === null || !stream.writable) return;
    stream.cork();
    this.corked = stream;
    process.nextTick(this.uncork);
  }
}
