import type { AlertEvaluation, AlertRule, AlertSeverity } from "./alert-rules.ts";

/** Where a rule stands: `pending` while its condition holds for less than its `for` duration. */
export type AlertState = "ok" | "pending" | "firing";

/** One rule's current state, as `GET /api/admin/alerts` shows it (`since`: epoch ms the state was entered). */
export interface AlertStatus {
  id: string;
  severity: AlertSeverity;
  description: string;
  state: AlertState;
  since: number;
  value: number | null;
  threshold: number;
  message: string;
}

/** A change worth telling operators about: a rule started firing, or a firing rule resolved. */
export interface AlertTransition {
  id: string;
  severity: AlertSeverity;
  description: string;
  state: "firing" | "resolved";
  /** Epoch ms the condition started holding (firing) or stopped holding (resolved). */
  since: number;
  value: number | null;
  threshold: number;
  message: string;
}

interface Tracked {
  state: AlertState;
  since: number;
  /** Epoch ms the condition started holding (the start of the `for` wait). */
  activeSince: number;
  evaluation: AlertEvaluation;
}

/**
 * The `for` state machine of every rule, with no clock of its own (each call says what time it is):
 * ok -> pending when the condition starts holding (straight to firing when `for` is 0), pending -> firing once it
 * has held for `forMs`, pending -> ok without a word when it stops before that, firing -> ok (resolved) when it stops.
 * An unknown verdict (`evaluation.unknown`: a source did not answer, the rule threw) changes no state: a firing alert
 * stays firing and a pending one keeps its start, since missing data says nothing about the condition.
 */
export class AlertStateTracker {
  private readonly tracked = new Map<string, Tracked>();

  constructor(
    private readonly rules: readonly AlertRule[],
    startedAt: number,
  ) {
    for (const rule of rules) {
      this.tracked.set(rule.id, {
        state: "ok",
        since: startedAt,
        activeSince: startedAt,
        evaluation: { firing: false, value: null, message: "not evaluated yet" },
      });
    }
  }

  /** Records `rule`'s verdict at `now`; returns the transition to announce, if any. */
  apply(rule: AlertRule, evaluation: AlertEvaluation, now: number): AlertTransition | undefined {
    const entry = this.tracked.get(rule.id);
    if (!entry) throw new Error(`unknown alert rule ${rule.id}`);
    entry.evaluation = evaluation;
    // Only the shown value and message follow an unknown verdict; "cannot tell" must neither resolve nor advance.
    if (evaluation.unknown) return undefined;
    if (!evaluation.firing) {
      if (entry.state === "ok") return undefined;
      const wasFiring = entry.state === "firing";
      entry.state = "ok";
      entry.since = now;
      return wasFiring ? this.transition(rule, entry, "resolved", now) : undefined;
    }
    if (entry.state === "ok") {
      entry.state = "pending";
      entry.since = now;
      entry.activeSince = now;
    }
    if (entry.state === "pending" && now - entry.activeSince >= rule.forMs) {
      entry.state = "firing";
      entry.since = now;
      return this.transition(rule, entry, "firing", entry.activeSince);
    }
    return undefined;
  }

  /** A `firing` transition (since: when its condition started holding) for each rule firing now, in rule order. */
  firing(): AlertTransition[] {
    return this.rules.flatMap((rule) => {
      const entry = this.tracked.get(rule.id)!;
      return entry.state === "firing" ? [this.transition(rule, entry, "firing", entry.activeSince)] : [];
    });
  }

  /** Every rule's state, in rule order. */
  statuses(): AlertStatus[] {
    return this.rules.map((rule) => {
      const entry = this.tracked.get(rule.id)!;
      return {
        id: rule.id,
        severity: rule.severity,
        description: rule.description,
        state: entry.state,
        since: entry.since,
        value: entry.evaluation.value,
        threshold: rule.threshold,
        message: entry.evaluation.message,
      };
    });
  }

  private transition(rule: AlertRule, entry: Tracked, state: AlertTransition["state"], since: number): AlertTransition {
    return {
      id: rule.id,
      severity: rule.severity,
      description: rule.description,
      state,
      since,
      value: entry.evaluation.value,
      threshold: rule.threshold,
      message: entry.evaluation.message,
    };
  }
}
