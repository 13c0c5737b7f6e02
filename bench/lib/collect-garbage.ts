import v8 from "node:v8";
import vm from "node:vm";

// Exposes V8's gc() without a command-line flag, so `npx tsx bench/...` stays the one command to run.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/**
 * Runs a full garbage collection now. Benches call it before timing a single operation that follows bulk work,
 * so a collection of that work's garbage does not land inside the timed window.
 */
export function collectGarbage(): void {
  gc();
}
