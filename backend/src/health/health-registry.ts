import { retry } from "../lib/retry.ts";
import { withTimeout } from "../lib/with-timeout.ts";
import type { HealthCheckDefinition, HealthCheckResult, HealthProbe, HealthSummary } from "./health-check.ts";

/** The clock and sleep the registry uses; tests may pass their own. */
export interface HealthRegistryOptions {
  now?: () => number;
}

interface Cached {
  result: Omit<HealthCheckResult, "ageMs" | "cached">;
  at: number;
}

/**
 * The health check registry: each check runs with its timeout and retry policy, its result is reused for its
 * cache TTL (so a scrape storm costs one probe per TTL per check), concurrent callers share one run, and the
 * summary is `unavailable` only when a critical check is down. Never throws from `run`/`runAll`.
 */
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheckDefinition>();
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<Cached>>();
  private readonly now: () => number;

  constructor(options: HealthRegistryOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Adds a check; a second check with the same name is a wiring bug and throws. */
  register(definition: HealthCheckDefinition): this {
    if (this.checks.has(definition.name)) throw new Error(`health check "${definition.name}" is registered twice`);
    if (definition.retry.attempts < 1)
      throw new RangeError(`health check "${definition.name}": attempts must be at least 1`);
    this.checks.set(definition.name, definition);
    return this;
  }

  /** Every registered check, highest priority first. */
  list(): HealthCheckDefinition[] {
    return [...this.checks.values()].sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
  }

  /** One check's result (cached when younger than its TTL unless `fresh`). */
  async run(name: string, options: { fresh?: boolean } = {}): Promise<HealthCheckResult> {
    const definition = this.checks.get(name);
    if (!definition) throw new Error(`no health check named "${name}"`);
    const now = this.now();
    const cached = this.cache.get(name);
    let running = this.inFlight.get(name);
    // A run in flight is newer than any cached result: a composite check joins its members' runs.
    if (!running && !options.fresh && cached && now - cached.at < definition.cacheTtlMs) {
      return { ...cached.result, ageMs: now - cached.at, cached: true };
    }
    if (!running) {
      running = this.execute(definition).finally(() => this.inFlight.delete(name));
      this.inFlight.set(name, running);
    }
    const produced = await running;
    this.cache.set(name, produced);
    return { ...produced.result, ageMs: Math.max(0, this.now() - produced.at), cached: false };
  }

  /** Every check in parallel (critical and non-critical alike) and the verdict. */
  async runAll(options: { fresh?: boolean } = {}): Promise<HealthSummary> {
    const checks = await Promise.all(this.list().map((definition) => this.run(definition.name, options)));
    return summarize(checks);
  }

  /** Forgets every cached result (the next run probes again). */
  clearCache(): void {
    this.cache.clear();
  }

  private async execute(definition: HealthCheckDefinition): Promise<Cached> {
    const policy = definition.retry;
    let attempts = 0;
    let latencyMs = 0;
    try {
      const probe = await retry(
        async (attempt) => {
          attempts = attempt;
          const started = performance.now();
          try {
            return (await withTimeout(definition.probe(), definition.timeoutMs, definition.name)) as
              | HealthProbe
              | undefined;
          } finally {
            latencyMs = elapsed(started);
          }
        },
        { attempts: policy.attempts, backoff: { initialMs: policy.initialDelayMs, maxMs: policy.maxDelayMs } },
      );
      const status = probe?.status ?? "up";
      return this.produced(definition, {
        status,
        latencyMs,
        attempts,
        ...(status === "degraded" && probe?.message ? { error: probe.message } : {}),
        ...(probe?.details ? { details: probe.details } : {}),
      });
    } catch (error) {
      return this.produced(definition, {
        status: "down",
        latencyMs,
        attempts,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private produced(
    definition: HealthCheckDefinition,
    outcome: Pick<HealthCheckResult, "status" | "latencyMs" | "attempts" | "error" | "details">,
  ): Cached {
    const at = this.now();
    return {
      at,
      result: {
        name: definition.name,
        group: definition.group,
        critical: definition.critical,
        priority: definition.priority,
        ...outcome,
        checkedAt: new Date(at).toISOString(),
      },
    };
  }
}

/** The verdict over a set of results. */
export function summarize(checks: HealthCheckResult[]): HealthSummary {
  const failing = checks.filter((check) => check.critical && check.status === "down").map((check) => check.name);
  const degraded = checks
    .filter((check) => !(check.critical && check.status === "down") && check.status !== "up")
    .map((check) => check.name);
  const status = failing.length > 0 ? "unavailable" : degraded.length > 0 ? "degraded" : "ready";
  return { status, failing, degraded, checks };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
