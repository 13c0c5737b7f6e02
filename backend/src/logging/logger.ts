import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

/** Paths whose values are replaced by "[redacted]" in every log line: secrets never reach the logs. */
export const REDACTED_PATHS = [
  "password",
  "token",
  "apiKey",
  "secret",
  "authorization",
  "*.password",
  "*.token",
  "*.apiKey",
  "*.secret",
  "*.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  // Set-Cookie carries a new session token (pino-http logs response headers).
  'res.headers["set-cookie"]',
  "headers.cookie",
  "headers.authorization",
];

/** Builds the service logger: JSON lines on stdout, or pretty lines when `pretty` (dev only). */
export function createLogger(options: {
  level: string;
  pretty?: boolean;
  name?: string;
  /** Where JSON lines go instead of stdout (tests read what would be logged); ignored with `pretty`. */
  destination?: DestinationStream;
}): Logger {
  const settings = {
    name: options.name ?? "spywatcher",
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    ...(options.pretty ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
  };
  return options.destination && !options.pretty ? pino(settings, options.destination) : pino(settings);
}

/** Removes user and password from a connection URL so it can be logged. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparseable url)";
  }
}
