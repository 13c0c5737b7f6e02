/**
 * The operations keys of one deployment, under `<REDIS_KEY_PREFIX>:ops:` (outside the cache's prefix, so clearing
 * the cache never touches them). docs/operations.md lists each with its type, TTL and an example.
 */
export class OpsKeys {
  constructor(private readonly keyPrefix: string) {}

  /** STREAM of invalidations, capped by MAXLEN (INVALIDATION_LOG_MAX_ENTRIES); no TTL. */
  invalidations(): string {
    return `${this.keyPrefix}:ops:invalidations`;
  }

  /** STREAM of alert transitions (fired, resolved), capped by MAXLEN (ALERT_HISTORY_MAX_ENTRIES); no TTL. */
  alertHistory(): string {
    return `${this.keyPrefix}:ops:alerts`;
  }

  /** STRING lock token of the scheduled cleanup (SET NX PX), so one instance at a time runs it. */
  cleanupLock(): string {
    return `${this.keyPrefix}:ops:cleanup:lock`;
  }

  /** STRING (JSON) with the last scheduled cleanup's report; expires after a day. */
  cleanupLast(): string {
    return `${this.keyPrefix}:ops:cleanup:last`;
  }
}
