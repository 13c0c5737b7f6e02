import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

/** A real pino logger whose JSON lines are kept in memory, so a test can assert what was logged. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}
