import type { Redis } from "ioredis";
import type { SpyCache } from "../../backend/src/cache/index.ts";
import type { TargetLog } from "../lib/targets.ts";

/** Our cache built for a bench, and how to close what it opened. */
export interface OurCacheHandle {
  cache: SpyCache;
  /** Closes the cache and every connection opened for it. */
  close(): Promise<void>;
}

/** How a bench wants our cache configured. */
export interface OurCacheOptions {
  /** Redis URL (loopback only). */
  url: string;
  /** Key prefix of this run. */
  prefix: string;
  /** With the in-process L1 tier in front of Redis. */
  l1: boolean;
  /** Per-command timeout of the cache's Redis connection in ms (default 250, the service's default). */
  commandTimeoutMs?: number;
  /** Consecutive Redis failures that open the breaker (default: the cache's default). */
  breakerFailureThreshold?: number;
  /** How long the breaker stays open in ms (default: the cache's default). */
  breakerRecoveryTimeoutMs?: number;
}

/** Builds our cache on its own connections. */
export type OurCacheFactory = (options: OurCacheOptions) => Promise<OurCacheHandle>;

/** What every bench section receives from the runner. */
export interface BenchContext {
  /** Connection for the limit and for bookkeeping (seeding, counters, cleanup). */
  redis: Redis;
  /** URL of that Redis. */
  url: string;
  /** Key prefix of this run: every key any section writes starts with it. */
  prefix: string;
  makeOurCache: OurCacheFactory;
  targets: TargetLog;
  /** Length of one measured round in ms. */
  roundMs: number;
  /** Measured rounds per figure (the median is reported). */
  rounds: number;
  /** Prints one line of the report. */
  print(line?: string): void;
}
