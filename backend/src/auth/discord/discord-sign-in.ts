import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { DependencyUnavailableError, NoGuildAccessError, OAuthRefusedError, OAuthStateError } from "../../errors.ts";
import type { Logger } from "../../logging/logger.ts";
import type { OpenedSession, SessionService } from "../sessions/session-service.ts";
import type { TokenCipher } from "../sessions/token-cipher.ts";
import type { BotGuilds } from "./bot-guilds.ts";
import { DiscordTokenRejectedError, type DiscordOAuthClient } from "./discord-oauth-client.ts";
import { discordUserScope } from "./guild-scope.ts";
import type { OAuthStateStore } from "./oauth-state-store.ts";
import { sealDiscordTokens } from "./sealed-discord-tokens.ts";

/** What the sign-in flow is built from. */
export interface DiscordSignInDependencies {
  client: DiscordOAuthClient;
  states: OAuthStateStore;
  sessions: Pick<SessionService, "open">;
  botGuilds: BotGuilds;
  cipher: TokenCipher;
  /** Discord user ids with admin scope (AUTH_ADMIN_USER_IDS). */
  adminUserIds: ReadonlySet<string>;
  logger: Logger;
}

/** What the callback received. */
export interface CallbackInput {
  code: string | undefined;
  state: string | undefined;
  /** The state cookie set by the login redirect (binds the flow to the browser that started it). */
  cookieState: string | undefined;
  /** Discord's `error` parameter (e.g. access_denied when the user declined). */
  error: string | undefined;
  clientIp: string;
  userAgent: string;
}

/**
 * "Log in with Discord": the authorization-code flow with PKCE and a single-use `state` in Redis, bound to the
 * browser by a cookie. The callback exchanges the code, reads the user and their guilds, and opens a session whose
 * scope is the guilds the user manages where the bot is present (admin for allow-listed users).
 */
export class DiscordSignIn {
  constructor(private readonly deps: DiscordSignInDependencies) {}

  /** Starts a sign-in: the authorize URL to redirect to and the state for the browser's cookie. 503 when Redis fails. */
  async start(redirectUri: string): Promise<{ authorizeUrl: string; state: string }> {
    const codeVerifier = randomBytes(32).toString("base64url");
    let state: string;
    try {
      state = await this.deps.states.put({ codeVerifier, redirectUri, createdAt: Date.now() });
    } catch (error) {
      throw new DependencyUnavailableError(
        "redis",
        "Cannot start signing in right now: the session store is unavailable",
        error,
      );
    }
    const codeChallenge = createHash("sha256").update(codeVerifier).digest("base64url");
    return { authorizeUrl: this.deps.client.authorizeUrl({ state, codeChallenge, redirectUri }), state };
  }

  /** Finishes a sign-in; throws OAuthStateError, OAuthRefusedError, NoGuildAccessError, DiscordUnavailableError or 503. */
  async finish(input: CallbackInput): Promise<OpenedSession> {
    if (!input.state || !input.cookieState || !sameString(input.state, input.cookieState)) throw new OAuthStateError();
    let pending: Awaited<ReturnType<typeof this.deps.states.take>>;
    try {
      pending = await this.deps.states.take(input.state);
    } catch (error) {
      throw new DependencyUnavailableError(
        "redis",
        "Cannot finish signing in right now: the session store is unavailable",
        error,
      );
    }
    if (!pending) throw new OAuthStateError();
    if (input.error)
      throw new OAuthRefusedError("Discord sign-in was declined or failed", { discordError: input.error.slice(0, 60) });
    if (!input.code) throw new OAuthRefusedError("Discord sent no authorization code");
    const tokens = await this.deps.client.exchangeCode({
      code: input.code,
      codeVerifier: pending.codeVerifier,
      redirectUri: pending.redirectUri,
    });
    const [user, guilds, botGuildIds] = await Promise.all([
      this.deps.client.user(tokens.accessToken),
      this.deps.client.userGuilds(tokens.accessToken),
      this.deps.botGuilds.ids(),
    ]).catch((error: unknown) => {
      if (error instanceof DiscordTokenRejectedError)
        throw new OAuthRefusedError("Discord refused the new access token", { discordStatus: error.status });
      throw error;
    });
    const scope = discordUserScope({ userId: user.id, guilds, botGuildIds, adminUserIds: this.deps.adminUserIds });
    if (scope.scope === "guild" && scope.guildIds.length === 0) {
      this.deps.logger.info({ userId: user.id }, "discord sign-in refused: no guild managed where the bot is present");
      throw new NoGuildAccessError();
    }
    return this.deps.sessions.open({
      kind: "discord",
      userId: user.id,
      userName: user.username,
      scope,
      clientIp: input.clientIp,
      userAgent: input.userAgent,
      discordTokens: sealDiscordTokens(this.deps.cipher, tokens),
    });
  }
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
