import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiKey } from "../../../backend/src/auth/api-key-secret.ts";
import { ApiKeyService } from "../../../backend/src/auth/api-key-service.ts";
import { createPrismaClient, type PrismaClient } from "../../../backend/src/db/prisma-client.ts";
import { TEST_DATABASE_URL, testLogger, uniquePrefix } from "../../support/test-env.ts";
import { startRealtimeInstance, type RealtimeInstance } from "./realtime-harness.ts";
import { TestSocket } from "../../support/ws-test-client.ts";

/** The failed-key limit of the HTTP API (AUTH_FAILURES_PER_MINUTE) applies to /ws too, by client address. */
describe("/ws and the per-address limit on failed API keys", () => {
  let prisma: PrismaClient;
  let keys: ApiKeyService;
  let instance: RealtimeInstance;
  let validKey: string;

  beforeAll(async () => {
    prisma = createPrismaClient({ url: TEST_DATABASE_URL, poolMax: 2 });
    keys = new ApiKeyService({ prisma, logger: testLogger(), failedAuthPerMinute: 3 });
    validKey = (await keys.createKey({ name: "ws limit", admin: true })).secret;
    instance = await startRealtimeInstance({ keyPrefix: uniquePrefix("ws-auth-limit"), auth: keys });
  });
  afterAll(async () => {
    await instance?.close();
    await keys?.whenIdle();
    await prisma?.$disconnect();
  });

  it("after 3 unknown keys from this address: 429 with Retry-After on upgrade, 1013 on first-message auth; a verified key still connects", async () => {
    // A key verified before the flood keeps working from the limited address.
    (await TestSocket.open(instance.url, { key: validKey })).close();
    for (let i = 0; i < 3; i += 1) {
      expect((await TestSocket.refused(instance.url, `Bearer ${generateApiKey().secret}`)).status).toBe(401);
    }
    const limited = await TestSocket.refused(instance.url, `Bearer ${generateApiKey().secret}`);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("E_RATE_LIMITED");

    const socket = await TestSocket.open(instance.url);
    socket.send({ type: "auth", key: generateApiKey().secret });
    expect((await socket.closed).code).toBe(1013);

    const ok = await TestSocket.open(instance.url, { key: validKey });
    expect(await ok.subscribe("123456789012345678")).toMatchObject({ type: "subscribed" });
    await ok.close();
  });
});
