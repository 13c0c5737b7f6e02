import type { Redis } from "ioredis";

/**
 * A start line for several processes, held in two Redis lists: each party pushes to `<name>:ready` and blocks on
 * `<name>:go` (BLPOP, an awaited event, not polling); the coordinator waits for every ready entry, then pushes one
 * go entry per party so they all start in the same instant. The connections given must have no command timeout
 * (BLPOP blocks by design).
 */
export const processBarrier = {
  /** Party side: announces it is ready, then waits (up to `timeoutSeconds`) for the go signal. */
  async arriveAndWait(redis: Redis, name: string, timeoutSeconds = 30): Promise<void> {
    await redis.rpush(`${name}:ready`, String(process.pid));
    const go = await redis.blpop(`${name}:go`, timeoutSeconds);
    if (go === null) throw new Error(`barrier ${name}: no go signal within ${timeoutSeconds} s`);
  },

  /** Coordinator side: waits until `parties` have arrived, then releases them all at once. */
  async releaseWhenReady(redis: Redis, name: string, parties: number, timeoutSeconds = 30): Promise<void> {
    for (let arrived = 0; arrived < parties; arrived++) {
      const ready = await redis.blpop(`${name}:ready`, timeoutSeconds);
      if (ready === null) throw new Error(`barrier ${name}: ${arrived}/${parties} parties within ${timeoutSeconds} s`);
    }
    await redis.rpush(`${name}:go`, ...Array.from({ length: parties }, () => "go"));
  },
};
