import { Command, type Cluster, type Redis } from "ioredis";

/**
 * Every place the cache relies on ioredis behaviour that is not part of its documented API, in one module. The
 * contract test (__tests__/unit/cache/transport/ioredis-internals.test.ts) checks each of these against the
 * installed ioredis on a real Redis and fails when a new version changes one; package.json pins ioredis to the
 * version below so such a change only arrives on purpose.
 */

/** The ioredis version these internals were checked against (package.json pins the same). */
export const IOREDIS_VERSION_TESTED = "6.0.0";

/**
 * A command that arms no timer of its own: ioredis's `sendCommand` calls `command.setTimeout(commandTimeout)` on
 * every command of a connection with `commandTimeout`, one timer per command; a `DeadlineWatch` bounds these
 * commands with one interval instead.
 */
export class UntimedCommand extends Command {
  override setTimeout(_ms: number): void {}
}

/** True once ioredis has resolved or rejected `command` (its `isSettled` flag). */
export function isSettled(command: Command): boolean {
  return command.isSettled;
}

/** Fails `command` now, as ioredis's own timeout would (its caller's promise rejects with `error`). */
export function failCommand(command: Command, error: Error): void {
  command.reject(error);
}

/** The socket of a single-node connection (undefined or not writable while it is not connected). */
export function socketOf(client: Redis): Redis["stream"] | undefined {
  return client.stream ?? undefined;
}

/** The cluster's slot map as ioredis holds it: slot -> ["host:port" of its master, ...replicas]. */
export function slotOwners(cluster: Cluster): readonly (readonly string[] | undefined)[] {
  return cluster.slots;
}

/** The "host:port" id ioredis uses for `node` in its slot map. */
export function nodeId(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}
