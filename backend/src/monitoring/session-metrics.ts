import { Gauge, type Registry } from "prom-client";
import type { SessionCounts } from "../auth/sessions/session-store.ts";

/** The session counts of the last sweep (undefined before the first, or while Redis was down). */
export type SessionCountsSource = () => SessionCounts | undefined;

/**
 * Exposes fleet-wide session counts as of the last session sweep (SESSION_SWEEP_INTERVAL; no Redis call at scrape
 * time): gauges `<prefix>sessions_active{scope="admin"|"guild"}` and `<prefix>session_users`.
 */
export function registerSessionMetrics(
  registry: Registry,
  read: SessionCountsSource,
  namePrefix = "spywatcher_",
): void {
  new Gauge({
    name: `${namePrefix}sessions_active`,
    help: "Live dashboard sessions, fleet-wide, by scope",
    labelNames: ["scope"],
    registers: [registry],
    collect() {
      const counts = read();
      this.set({ scope: "admin" }, counts?.byScope.admin ?? 0);
      this.set({ scope: "guild" }, counts?.byScope.guild ?? 0);
    },
  });
  new Gauge({
    name: `${namePrefix}session_users`,
    help: "Users with at least one live dashboard session, fleet-wide",
    registers: [registry],
    collect() {
      this.set(read()?.users ?? 0);
    },
  });
}
