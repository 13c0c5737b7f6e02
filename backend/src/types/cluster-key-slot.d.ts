/** cluster-key-slot ships no types: the Redis Cluster hash slot (0-16383) of a key, honouring `{hash tags}`. */
declare module "cluster-key-slot" {
  /** The slot of `key` (CRC16 of the key, or of its first non-empty `{...}` part, modulo 16384). */
  export default function calculateSlot(key: string | Buffer): number;
}
