import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boundPort } from "../../../backend/src/lifecycle/http-server.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import { testConfig, testLogger } from "../../support/test-env.ts";

const ADMIN_KEY = "malformed-requests-admin-key-0123456789";

/** Sends raw bytes on a fresh TCP connection and resolves with everything the server wrote before closing. */
function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.setTimeout(5_000, () => socket.destroy());
    socket.end(bytes);
  });
}

describe("malformed requests answer 4xx JSON naming the problem", () => {
  let service: RunningService;
  const admin = (req: request.Test) => req.set("authorization", `Bearer ${ADMIN_KEY}`);

  beforeAll(async () => {
    service = await startService(testConfig({ ADMIN_API_KEY: ADMIN_KEY }), testLogger());
  });
  afterAll(() => service?.stop());

  it("bad percent-encoding in a path is 400 E_BAD_REQUEST with a key, 401 without", async () => {
    const withKey = await admin(request(service.server).get("/api/analytics/%ff?guildId=123456789012345678"));
    expect(withKey.status).toBe(400);
    expect(withKey.body.error.code).toBe("E_BAD_REQUEST");
    const withoutKey = await request(service.server).get("/api/analytics/%ff");
    expect(withoutKey.status).toBe(401);
    expect(withoutKey.body.error.code).toBe("E_UNAUTHORIZED");
    const unrouted = await request(service.server).get("/%ff%fe");
    expect(unrouted.status).toBeLessThan(500);
    expect(unrouted.body.error.code).toEqual(expect.stringMatching(/^E_/));
  });

  it("a corrupt gzip body is 400 E_BAD_REQUEST_BODY on a route that reads bodies, and never read elsewhere", async () => {
    const corrupt = Buffer.concat([
      gzipSync(JSON.stringify({ tags: ["guild:1"] })).subarray(0, 12),
      Buffer.from("garbage!"),
    ]);
    const onAdmin = await admin(request(service.server).post("/api/admin/cache/invalidate"))
      .set("content-type", "application/json")
      .set("content-encoding", "gzip")
      .send(corrupt);
    expect(onAdmin.status).toBe(400);
    expect(onAdmin.body.error.code).toBe("E_BAD_REQUEST_BODY");
    // No key: refused before the body is touched.
    const noKey = await request(service.server)
      .post("/api/admin/cache/invalidate")
      .set("content-type", "application/json")
      .set("content-encoding", "gzip")
      .send(corrupt);
    expect(noKey.status).toBe(401);
    for (const path of ["/health", "/api/analytics/ghosts", "/nope"]) {
      const response = await request(service.server)
        .post(path)
        .set("content-type", "application/json")
        .set("content-encoding", "gzip")
        .send(corrupt);
      expect(response.status, path).toBeGreaterThanOrEqual(400);
      expect(response.status, path).toBeLessThan(500);
      expect(response.body.error.code, path).toEqual(expect.stringMatching(/^E_/));
    }
  });

  it("an unsupported Content-Encoding is 415, a wrong content type 415, invalid JSON 400, an oversize body 413", async () => {
    const post = () => admin(request(service.server).post("/api/admin/cache/invalidate"));
    const encoding = await post()
      .set("content-type", "application/json")
      .set("content-encoding", "compress")
      .send('{"tags":["guild:1"]}');
    expect([encoding.status, encoding.body.error.code]).toEqual([415, "E_UNSUPPORTED_MEDIA_TYPE"]);
    const textPlain = await post().set("content-type", "text/plain").send("tags=guild:1");
    expect([textPlain.status, textPlain.body.error.code]).toEqual([415, "E_UNSUPPORTED_MEDIA_TYPE"]);
    const invalid = await post().set("content-type", "application/json").send('{"tags": [');
    expect([invalid.status, invalid.body.error.code]).toEqual([400, "E_BAD_REQUEST_BODY"]);
    const charset = await post().set("content-type", "application/json; charset=klingon").send("{}");
    expect([charset.status, charset.body.error.code]).toEqual([415, "E_UNSUPPORTED_MEDIA_TYPE"]);
    const oversize = await post()
      .set("content-type", "application/json")
      .send(`{"tags":["${"a".repeat(200_000)}"]}`);
    expect([oversize.status, oversize.body.error.code]).toEqual([413, "E_PAYLOAD_TOO_LARGE"]);
  });

  it("requests Node's parser refuses get a JSON 400 (or 431) and the connection is closed", async () => {
    const port = boundPort(service.server);
    const garbage = await rawExchange(port, "GARBAGE\r\n\r\n");
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage).toContain('"code":"E_BAD_REQUEST"');
    const badHeader = await rawExchange(port, "GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    expect(badHeader).toMatch(/^HTTP\/1\.1 400 /);
    const huge = await rawExchange(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge).toContain("application/json");
    // The service still answers.
    await request(service.server).get("/health").expect(200);
  });

  it("every answer carries the security headers", async () => {
    for (const response of [
      await request(service.server).get("/health"),
      await request(service.server).get("/api/analytics/ghosts"),
    ]) {
      expect(response.headers["x-content-type-options"]).toBe("nosniff");
      expect(response.headers["referrer-policy"]).toBe("no-referrer");
      expect(response.headers["content-security-policy"]).toContain("default-src 'none'");
      expect(response.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
      expect(response.headers["x-powered-by"]).toBeUndefined();
    }
  });
});
