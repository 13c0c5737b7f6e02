/**
 * The tag bench's filler: a separate process that writes the entries under a tag, so the process that times
 * `invalidateByTag` has done no bulk work itself (as in the service, where API instances write entries over time
 * and the invalidation service invalidates). Arguments: bench Redis URL and cache prefix. Each IPC message
 * `{ tag, keyBase, size }` is answered with `{ fillMs }` once every entry is written; disconnecting ends it.
 */
import { BENCH_VALUE } from "../lib/bench-value.ts";
import { timeMs } from "../lib/measure.ts";
import { makeOurCache } from "./our-cache.ts";

/** One fill request. */
export interface FillRequest {
  tag: string;
  /** Entries are `<keyBase>:0` .. `<keyBase>:<size-1>`. */
  keyBase: string;
  size: number;
}

/** The reply to a fill request. */
export interface FillReply {
  fillMs: number;
}

const FILL_CHUNK = 250;
const [url, prefix] = process.argv.slice(2);
if (!url || !prefix || !process.send) throw new Error("usage: forked with <redis url> <prefix>");

// Bulk writes: a longer command timeout keeps a busy machine from failing (and silently skipping) fill writes.
const handle = await makeOurCache({ url, prefix, l1: false, commandTimeoutMs: 2_000 });
process.on("message", (request: FillRequest) => {
  const fill = async (): Promise<void> => {
    for (let start = 0; start < request.size; start += FILL_CHUNK) {
      const end = Math.min(request.size, start + FILL_CHUNK);
      const entries = [];
      for (let index = start; index < end; index++) {
        entries.push({
          key: `${request.keyBase}:${index}`,
          value: BENCH_VALUE,
          options: { ttl: "10m" as const, tags: [request.tag] },
        });
      }
      await handle.cache.mset(entries);
    }
  };
  timeMs(fill).then(
    (fillMs) => process.send!({ fillMs } satisfies FillReply),
    (error: unknown) => process.send!({ error: String(error) }),
  );
});
process.on("disconnect", () => void handle.close());
