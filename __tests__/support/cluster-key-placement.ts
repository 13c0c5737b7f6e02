import type { Cluster } from "ioredis";
import type { KeyBuilder } from "../../backend/src/cache/index.ts";
import type { LoadKey } from "./cache-failover-load.ts";

/** Which master port serves a Redis key, from one CLUSTER SLOTS reply (valid until the topology changes). */
export type MasterOfKey = (redisKey: string) => Promise<number>;

/** Reads CLUSTER SLOTS once and answers, per key, the port of the master serving its slot (CLUSTER KEYSLOT). */
export async function masterLookup(client: Cluster): Promise<MasterOfKey> {
  const ranges = (await client.call("CLUSTER", "SLOTS")) as [number, number, [string, number, string]][];
  return async (redisKey) => {
    const slot = (await client.call("CLUSTER", "KEYSLOT", redisKey)) as number;
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no master serves slot ${slot}`);
    return range[2][1];
  };
}

/**
 * Logical keys and tags placed so that each master serves `tagsPerMaster` tags' version keys and, for each of those
 * tags, `keysPerTag` entries: a key's entry and its tag's version live on the same master, so a dead master takes
 * out exactly its own keys and tags, and the others stay readable end to end.
 */
export async function keysOnEveryMaster(
  masterOf: MasterOfKey,
  keys: KeyBuilder,
  masters: number[],
  options: { tagsPerMaster: number; keysPerTag: number },
): Promise<LoadKey[]> {
  const tagsOf = new Map<number, string[]>(masters.map((master) => [master, []]));
  for (let i = 0; [...tagsOf.values()].some((tags) => tags.length < options.tagsPerMaster); i += 1) {
    const tag = `failover-tag-${i}`;
    const tags = tagsOf.get(await masterOf(keys.tagVersion(tag)))!;
    if (tags.length < options.tagsPerMaster) tags.push(tag);
  }
  const placed: LoadKey[] = [];
  const perTag = new Map<string, number>();
  const wanted = masters.length * options.tagsPerMaster * options.keysPerTag;
  for (let i = 0; placed.length < wanted; i += 1) {
    const key = `failover:${i}`;
    const master = await masterOf(keys.entry(key));
    const tag = tagsOf.get(master)!.find((candidate) => (perTag.get(candidate) ?? 0) < options.keysPerTag);
    if (tag === undefined) continue;
    perTag.set(tag, (perTag.get(tag) ?? 0) + 1);
    placed.push({ key, tag, master });
  }
  return placed;
}
