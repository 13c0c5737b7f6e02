import { gunzipSync, gzipSync } from "node:zlib";

/** Tag name -> the tag's version when the entry was built. */
export type TagVersions = Record<string, number>;

/** What is stored for one entry (as JSON, readable with `redis-cli GET`). */
export interface CacheEnvelope<T = unknown> {
  value: T;
  /** Epoch ms when the value was computed. */
  createdAt: number;
  /** Epoch ms until which the value is fresh. */
  freshUntil: number;
  /** Epoch ms until which the value may still be served stale (Redis TTL ends here too). */
  graceUntil: number;
  /** The versions of the entry's tags it was built with; it is valid only while each is still current. */
  tags: TagVersions;
  /** Set on a last good copy (stale-if-error fallback, last-good-copies.ts): never valid as an entry, never swept. */
  lastGood?: true;
}

/** The stored shape when the value is compressed: the value's JSON, gzipped, base64 in `data`. */
interface CompressedForm extends Omit<CacheEnvelope, "value"> {
  encoding: "gzip+base64";
  data: string;
}

/** Serialises an envelope; compresses the value when its JSON is at least `compressAboveBytes` long. */
export function encodeEnvelope(envelope: CacheEnvelope, compressAboveBytes: number | undefined): string {
  if (compressAboveBytes === undefined) return JSON.stringify(envelope);
  const valueJson = JSON.stringify(envelope.value) ?? "null";
  if (Buffer.byteLength(valueJson) < compressAboveBytes) return JSON.stringify(envelope);
  const { value: _value, ...meta } = envelope;
  const compressed: CompressedForm = { ...meta, encoding: "gzip+base64", data: gzipSync(valueJson).toString("base64") };
  return JSON.stringify(compressed);
}

/**
 * Parses a stored string. Plain JSON that is not an envelope (e.g. a counter written by `increment`) becomes a
 * fresh, untagged, never-expiring envelope; unparseable data gives undefined (treated as a miss).
 */
export function decodeEnvelope(raw: string | null | undefined): CacheEnvelope | undefined {
  if (raw === null || raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isEnvelopeLike(parsed)) {
    return {
      value: parsed,
      createdAt: 0,
      freshUntil: Number.POSITIVE_INFINITY,
      graceUntil: Number.POSITIVE_INFINITY,
      tags: {},
    };
  }
  if ("encoding" in parsed) {
    const { encoding, data, ...meta } = parsed as unknown as CompressedForm;
    if (encoding !== "gzip+base64" || typeof data !== "string") return undefined;
    try {
      return { ...meta, value: JSON.parse(gunzipSync(Buffer.from(data, "base64")).toString("utf8")) };
    } catch {
      return undefined;
    }
  }
  return parsed as unknown as CacheEnvelope;
}

function isEnvelopeLike(parsed: unknown): parsed is Record<string, unknown> {
  return (
    typeof parsed === "object" &&
    parsed !== null &&
    typeof (parsed as Record<string, unknown>).createdAt === "number" &&
    typeof (parsed as Record<string, unknown>).freshUntil === "number" &&
    typeof (parsed as Record<string, unknown>).tags === "object"
  );
}

/** True when every tag version the entry was built with equals `current` (a missing current version fails). */
export function tagsMatch(entryTags: TagVersions, current: ReadonlyMap<string, number>): boolean {
  for (const tag in entryTags) {
    if (current.get(tag) !== entryTags[tag]) return false;
  }
  return true;
}
