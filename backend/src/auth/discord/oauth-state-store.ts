import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import type { RedisClient } from "../../redis/redis-connections.ts";

/** What is kept between the redirect to Discord and the callback. */
export interface PendingSignIn {
  codeVerifier: string;
  redirectUri: string;
  createdAt: number;
}

const pendingSchema = z.object({ codeVerifier: z.string(), redirectUri: z.string(), createdAt: z.number() });

/**
 * OAuth `state` values in Redis (`<prefix>:oauth-state:<sha256(state)>`), each with its PKCE verifier, for
 * `ttlMs`. Taking one deletes it (GETDEL), so a state works once: a replayed callback finds nothing.
 */
export class OAuthStateStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  /** Stores a new pending sign-in; resolves with its random state (256 bits). Rejects when Redis fails. */
  async put(pending: PendingSignIn): Promise<string> {
    const state = randomBytes(32).toString("base64url");
    await this.client.set(this.key(state), JSON.stringify(pending), "PX", this.ttlMs);
    return state;
  }

  /** The pending sign-in of this state, removed as it is read; undefined when unknown, expired or already taken. */
  async take(state: string): Promise<PendingSignIn | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(state)) return undefined;
    const raw = await this.client.getdel(this.key(state));
    if (raw === null) return undefined;
    try {
      const parsed = pendingSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  private key(state: string): string {
    return `${this.prefix}:oauth-state:${createHash("sha256").update(state).digest("hex")}`;
  }
}
