/**
 * Defaults of `createCache` that the service's configuration also uses (config/config.ts takes its CACHE_* defaults
 * from here, so each is written once). The L1 tier is the exception on purpose: off for a cache built on its own
 * (in-process copies are a choice of the caller), on in the service (CACHE_L1_ENABLED, with these bounds).
 */
export const CACHE_DEFAULTS = {
  prefix: "spywatcher:cache",
  version: "v1",
  defaultTtlMs: 5 * 60_000,
  graceMs: 60_000,
  staleWhileRevalidate: true,
  refreshAheadAt: 0.8,
  l1: false,
  l1MaxEntries: 10_000,
  l1MaxBytes: 64 * 1024 * 1024,
  invalidationWindowMs: 500,
  softInvalidationStaleMs: 250,
  lockTtlMs: 10_000,
  lockWaitMs: 5_000,
} as const;
