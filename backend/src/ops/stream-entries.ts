import type { RedisClient } from "../redis/redis-connections.ts";

/** One stream entry's id and its fields as an object. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

/** XADD with an exact MAXLEN cap; the fields are written in order. Resolves to the entry id. */
export async function appendCapped(
  redis: RedisClient,
  key: string,
  maxEntries: number,
  fields: Record<string, string>,
): Promise<string> {
  const flat = Object.entries(fields).flat();
  const id = await redis.xadd(key, "MAXLEN", String(maxEntries), "*", ...flat);
  return String(id);
}

/**
 * The newest entries first (XREVRANGE in pages of `page`), keeping those `accept` takes, until `limit` are found or
 * `maxScanned` entries were read (a filter that matches little stays bounded).
 */
export async function newestEntries(
  redis: RedisClient,
  key: string,
  options: { limit: number; accept?: (entry: StreamEntry) => boolean; maxScanned?: number; page?: number },
): Promise<StreamEntry[]> {
  const found: StreamEntry[] = [];
  const page = options.page ?? Math.max(options.limit, 100);
  const maxScanned = options.maxScanned ?? 10_000;
  let end = "+";
  let scanned = 0;
  while (found.length < options.limit && scanned < maxScanned) {
    const batch = (await redis.xrevrange(key, end, "-", "COUNT", page)) as [string, string[]][];
    for (const [id, flat] of batch) {
      const entry = { id, fields: toObject(flat) };
      if (!options.accept || options.accept(entry)) found.push(entry);
      if (found.length >= options.limit) break;
    }
    scanned += batch.length;
    if (batch.length < page) break;
    end = `(${batch.at(-1)![0]}`;
  }
  return found;
}

function toObject(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let index = 0; index + 1 < flat.length; index += 2) fields[flat[index]!] = flat[index + 1]!;
  return fields;
}
