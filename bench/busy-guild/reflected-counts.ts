import type { AnalyticsType } from "../../backend/src/analytics/analytics-catalog.ts";
import type { AnalyticsResultMap } from "../../backend/src/analytics/definitions/index.ts";
import type { DurableCounts } from "./durability-ledger.ts";

/** The ledger counts one analytics response reflects, read from its body. */
export type ReflectedCounts = Partial<DurableCounts>;

const sum = <T>(items: T[], of: (item: T) => number): number => items.reduce((total, item) => total + of(item), 0);

/**
 * What each analytic's body says about how many of the bench guild's events it has seen. These equal the ledger's
 * counts only because of how the bench guild behaves: every talker typed during warm-up (so ghosts lists them all),
 * watchers never talk or type (so lurkers lists them all, with every presence event), only watchers change roles
 * and presence, and every list is shorter than the default limit of 100 (checked: `total` must equal the items).
 */
export function reflectedCounts(type: AnalyticsType, body: unknown): ReflectedCounts {
  const result = body as AnalyticsResultMap[AnalyticsType];
  if (result.total !== result.items.length) {
    throw new Error(
      `${type}: ${result.total} items exist but ${result.items.length} were returned; the bench guild must fit in one page`,
    );
  }
  switch (type) {
    case "ghosts": {
      const { items } = body as AnalyticsResultMap["ghosts"];
      return { messages: sum(items, (item) => item.messageCount), typing: sum(items, (item) => item.typingCount) };
    }
    case "heatmap": {
      const { items } = body as AnalyticsResultMap["heatmap"];
      return { messages: sum(items, (item) => item.messageCount), typing: sum(items, (item) => item.typingCount) };
    }
    case "shifts": {
      const { items } = body as AnalyticsResultMap["shifts"];
      return { messages: sum(items, (item) => item.messageCount), typing: sum(items, (item) => item.typingCount) };
    }
    case "lurkers": {
      const { items } = body as AnalyticsResultMap["lurkers"];
      return { presence: sum(items, (item) => item.presenceCount) };
    }
    case "roles": {
      const { items } = body as AnalyticsResultMap["roles"];
      return { roleChanges: sum(items, (item) => item.roleChangeCount) };
    }
    case "clients": {
      const { items } = body as AnalyticsResultMap["clients"];
      return { platformPairs: sum(items, (item) => item.platforms.length) };
    }
    default:
      // An analytic whose body says nothing about the ledger's counts.
      return {};
  }
}
