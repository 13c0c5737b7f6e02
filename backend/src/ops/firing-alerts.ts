import type { AlertHistoryEntry } from "./alert-history.ts";

/**
 * The alerts firing now according to the shared history: for each (alert, instance), its newest transition is
 * `firing`. An instance stopped gracefully records `resolved` for what it had firing; one killed outright leaves
 * its last state (shown with its instance name and time).
 */
export function firingFromHistory(entries: AlertHistoryEntry[]): AlertHistoryEntry[] {
  const newest = new Map<string, AlertHistoryEntry>();
  for (const entry of entries) {
    const key = `${entry.alert}\u0000${entry.instance}`;
    if (!newest.has(key)) newest.set(key, entry); // entries come newest first
  }
  return [...newest.values()].filter((entry) => entry.state === "firing");
}
