import express from "express";
import helmet from "helmet";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { HELMET_OPTIONS, securityHeaders } from "../../../../backend/src/http/middleware/security-headers.ts";

/** The headers of GET / on an app whose only middleware is `middleware` (x-powered-by left on, as Express has it). */
async function headersWith(middleware: express.RequestHandler): Promise<Record<string, string>> {
  const app = express();
  app.use(middleware);
  app.get("/", (_req, res) => {
    res.json({ ok: true });
  });
  const { headers } = await request(app).get("/").expect(200);
  const { date: _date, ...rest } = headers as Record<string, string>;
  return rest;
}

describe("securityHeaders", () => {
  it("sets exactly the headers helmet sets per request with the same options, and removes X-Powered-By", async () => {
    const once = await headersWith(securityHeaders());
    expect(once).toEqual(await headersWith(helmet(HELMET_OPTIONS)));
    expect(once["x-powered-by"]).toBeUndefined();
    expect(once["content-security-policy"]).toBe(
      "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
    );
    expect(once["strict-transport-security"]).toBe("max-age=31536000; includeSubDomains");
  });
});
