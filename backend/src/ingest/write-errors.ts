/**
 * Tells a write that can never succeed (bad data) from one that may succeed later (database down, timeout).
 * The writer retries the second kind until the buffer overflows, and sets aside the first after a few attempts
 * so one poisoned batch cannot block a table forever.
 */

/** The SQLSTATE PostgreSQL reported, as Prisma's driver adapter exposes it (`meta.driverAdapterError.cause.originalCode`). */
export function sqlStateOf(error: unknown): string | undefined {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null)?.meta;
  const code = meta?.driverAdapterError?.cause?.originalCode;
  return typeof code === "string" ? code : undefined;
}

/** True for errors no retry can fix: invalid input (Prisma validation), data exceptions (22xxx), constraint violations (23xxx). */
export function isPermanentWriteError(error: unknown): boolean {
  if ((error as { name?: unknown } | null)?.name === "PrismaClientValidationError") return true;
  const state = sqlStateOf(error);
  return state !== undefined && (state.startsWith("22") || state.startsWith("23"));
}

/** Delay before retry number `attempt` (1-based): `baseMs` doubling up to `maxMs`, with up to 20% jitter so writers do not retry in step. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), maxMs);
  return Math.round(exponential * (0.8 + 0.2 * random()));
}
