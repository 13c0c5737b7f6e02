import type { Server } from "node:http";
import type { Duplex } from "node:stream";
import type { ErrorCode } from "../errors.ts";

const CODE: ErrorCode = "E_BAD_REQUEST";

/**
 * Answers requests Node's HTTP parser refuses before Express runs (a malformed request line or header, headers
 * over the size limit, a bad chunked body) with the service's JSON error shape instead of a bare 400, and closes
 * the connection. Nothing is logged: these are client mistakes, and a scanner sending garbage must not fill the
 * log.
 */
export function answerClientErrorsAsJson(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset or timed-out socket cannot be answered; anything already half-written must not get a second status.
    if (
      error.code === "ECONNRESET" ||
      !socket.writable ||
      (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent
    ) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
    const body = JSON.stringify({
      error: { code: CODE, message: tooLarge ? "The request headers are too large" : "The request is not valid HTTP" },
    });
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
