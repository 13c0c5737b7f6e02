/** One access pattern: how many distinct keys are read and how many calls are in flight at once. */
export interface Shape {
  /** Label in tables, e.g. "1 key, 50 in flight". */
  name: string;
  /** Distinct keys read round-robin (1 = one hot key). */
  keys: number;
  /** Calls outstanding at once (1 = sequential, each awaited before the next). */
  inFlight: number;
}

/** The four shapes every hit benchmark runs: one hot key and 1,000 keys, sequential and 50 in flight. */
export const SHAPES: readonly Shape[] = [
  { name: "1 key, sequential", keys: 1, inFlight: 1 },
  { name: "1 key, 50 in flight", keys: 1, inFlight: 50 },
  { name: "1,000 keys, sequential", keys: 1_000, inFlight: 1 },
  { name: "1,000 keys, 50 in flight", keys: 1_000, inFlight: 50 },
];

/** The `count` key names `<base>:0` .. `<base>:<count-1>`, precomputed so building names costs nothing while timing. */
export function keyNames(base: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${base}:${index}`);
}
