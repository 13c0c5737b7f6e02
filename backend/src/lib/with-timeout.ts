/** Raised by `withTimeout` when the wrapped promise did not settle in time. */
export class TimeoutError extends Error {
  constructor(
    readonly label: string,
    readonly timeoutMs: number,
  ) {
    super(`${label} did not answer within ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/**
 * Resolves or rejects like `promise`, or rejects with TimeoutError after `timeoutMs`. The timer is cleared
 * either way, so it never keeps the process alive. The underlying work is not cancelled.
 */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(label, timeoutMs)), timeoutMs);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
