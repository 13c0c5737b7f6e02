import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { ErrorCode } from "../errors.ts";

/** Why an upgrade was refused: the HTTP status and the `{error: {code, message}}` body the client gets. */
export interface UpgradeRejection {
  status: 400 | 401 | 404 | 429 | 503;
  code: ErrorCode;
  message: string;
  /** With 429: seconds before the client may try again (sent as Retry-After). */
  retryAfterSeconds?: number;
}

/**
 * Answers an upgrade request with a plain HTTP error (the same JSON shape as the API's errors) and closes the
 * socket: the handshake never completes, so the client sees the status (e.g. "Unexpected server response: 401").
 */
export function rejectUpgrade(socket: Duplex, rejection: UpgradeRejection): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: rejection.code, message: rejection.message } });
  const headers = [
    `HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status]}`,
    "Connection: close",
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(rejection.status === 401 ? ['WWW-Authenticate: Bearer realm="spywatcher"'] : []),
    ...(rejection.retryAfterSeconds !== undefined ? [`Retry-After: ${rejection.retryAfterSeconds}`] : []),
  ];
  socket.once("finish", () => socket.destroy());
  socket.end(`${headers.join("\r\n")}\r\n\r\n${body}`);
}
