import { tmpdir } from "node:os";
import { join } from "node:path";

/** Names of the checks the service registers, in priority order (docs/operations.md lists them). */
export const SERVICE_CHECK_NAMES = [
  "redis",
  "postgres",
  "redis-memory",
  "disk",
  "memory",
  "application",
  "composite",
] as const;

/** The default directory the disk check writes into (HEALTH_DISK_DIR). */
export function defaultHealthDiskDir(): string {
  return join(tmpdir(), "spywatcher-health");
}
