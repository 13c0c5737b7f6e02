import type { BackoffPolicy } from "../lib/retry.ts";
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

/** Back-off of a failed write (and of a spill replay): `baseMs` doubling up to `maxMs`, up to 20% jitter so writers do not retry in step. */
export function writeBackoff(baseMs: number, maxMs: number): BackoffPolicy {
  return { initialMs: baseMs, maxMs, jitter: 0.2 };
}
