import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FakeUser } from "./fake-discord-types.ts";

/** One guild of the demo moderator, as `/users/@me/guilds` lists it. */
export interface FakeUserGuild {
  id: string;
  name: string;
  owner?: boolean;
  /** Permission bits as a decimal string, e.g. "32" (Manage Server) or "8" (Administrator). */
  permissions: string;
}

/** The fake Discord's OAuth2 application and its one user. */
export interface FakeOAuthOptions {
  clientId: string;
  clientSecret: string;
  /** The demo moderator: `/oauth2/authorize` signs this user in without asking. */
  user: FakeUser;
  /** That user's guilds and permissions. */
  userGuilds: FakeUserGuild[];
  /** Lifetime of access tokens, in seconds (default 604,800, Discord's). */
  tokenTtlSeconds?: number;
}

/** Test controls of the fake OAuth2 endpoints. */
export interface FakeOAuth {
  /** Replaces the demo moderator's guilds (e.g. to take Manage Server away). */
  setUserGuilds(guilds: FakeUserGuild[]): void;
  /** Invalidates every token issued so far (the user de-authorised the app). */
  revokeAllTokens(): void;
  /** Delays every OAuth2 and `/users/@me*` answer by `ms` (a slow Discord). */
  setDelay(ms: number): void;
  /** Requests to the token endpoint so far. */
  tokenRequests(): number;
  /** Every access and refresh token issued so far (a test checks none of them leaks into Redis, answers or logs). */
  issuedTokens(): string[];
}

interface IssuedCode {
  redirectUri: string;
  challenge: string;
  expiresAt: number;
}

/**
 * Discord's OAuth2 endpoints for one demo moderator, enough for SpyWatcher's "Log in with Discord" to run with no
 * Discord account: `/oauth2/authorize` (auto-approves and redirects back with a code), `POST /api/v10/oauth2/token`
 * (authorization_code with PKCE S256, refresh_token), `/api/v10/users/@me` and `/api/v10/users/@me/guilds` (a user
 * token, or a bot token for the guilds the fake serves).
 */
export function createFakeOAuth(options: FakeOAuthOptions, botGuilds: () => { id: string; name: string }[]) {
  const codes = new Map<string, IssuedCode>();
  const accessTokens = new Set<string>();
  const refreshTokens = new Set<string>();
  let userGuilds = [...options.userGuilds];
  let delayMs = 0;
  let tokenRequests = 0;
  const issued: string[] = [];

  const issueTokens = () => {
    const access = randomBytes(24).toString("base64url");
    const refresh = randomBytes(24).toString("base64url");
    accessTokens.add(access);
    refreshTokens.add(refresh);
    issued.push(access, refresh);
    return {
      access_token: access,
      refresh_token: refresh,
      token_type: "Bearer",
      expires_in: options.tokenTtlSeconds ?? 604_800,
      scope: "identify guilds",
    };
  };

  const userOf = (req: IncomingMessage): boolean => {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    return Boolean(match && accessTokens.has(match[1]!));
  };

  const token = (req: IncomingMessage, res: ServerResponse, body: string) => {
    tokenRequests += 1;
    const form = new URLSearchParams(body);
    const basic = /^Basic (\S+)$/.exec(req.headers.authorization ?? "");
    const [id, secret] = basic
      ? Buffer.from(basic[1]!, "base64").toString().split(":").map(decodeURIComponent)
      : [form.get("client_id"), form.get("client_secret")];
    if (id !== options.clientId || secret !== options.clientSecret)
      return sendJson(res, 401, { error: "invalid_client" });
    if (form.get("grant_type") === "authorization_code") {
      const code = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      if (
        !code ||
        code.expiresAt < Date.now() ||
        code.redirectUri !== form.get("redirect_uri") ||
        code.challenge !== challenge
      ) {
        return sendJson(res, 400, { error: "invalid_grant", error_description: 'Invalid "code" in request.' });
      }
      return sendJson(res, 200, issueTokens());
    }
    if (form.get("grant_type") === "refresh_token") {
      const refresh = form.get("refresh_token") ?? "";
      if (!refreshTokens.delete(refresh)) return sendJson(res, 400, { error: "invalid_grant" });
      return sendJson(res, 200, issueTokens());
    }
    return sendJson(res, 400, { error: "unsupported_grant_type" });
  };

  const authorize = (url: URL, res: ServerResponse) => {
    const params = url.searchParams;
    const redirectUri = params.get("redirect_uri");
    if (params.get("client_id") !== options.clientId || params.get("response_type") !== "code" || !redirectUri) {
      return sendJson(res, 400, { message: "Invalid OAuth2 request", code: 50035 });
    }
    if (params.get("code_challenge_method") !== "S256" || !params.get("code_challenge"))
      return sendJson(res, 400, { message: "PKCE S256 required", code: 50035 });
    const code = randomBytes(20).toString("base64url");
    codes.set(code, { redirectUri, challenge: params.get("code_challenge")!, expiresAt: Date.now() + 60_000 });
    const back = new URL(redirectUri);
    back.searchParams.set("code", code);
    if (params.get("state") !== null) back.searchParams.set("state", params.get("state")!);
    res.writeHead(302, { location: back.toString() }).end();
  };

  /** Answers the request if it is an OAuth2 or `/users/@me*` one; false otherwise. */
  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? "/", "http://fake");
    const route = `${req.method} ${url.pathname}`;
    const known = [
      "GET /oauth2/authorize",
      "POST /api/v10/oauth2/token",
      "GET /api/v10/users/@me",
      "GET /api/v10/users/@me/guilds",
    ];
    if (!known.includes(route)) return false;
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      setTimeout(() => {
        if (res.destroyed) return;
        if (route === "GET /oauth2/authorize") return authorize(url, res);
        if (route === "POST /api/v10/oauth2/token") return token(req, res, body);
        const bot = /^Bot \S+$/.test(req.headers.authorization ?? "");
        if (route === "GET /api/v10/users/@me/guilds" && bot) {
          return sendJson(
            res,
            200,
            botGuilds().map((guild) => ({ id: guild.id, name: guild.name, owner: false, permissions: "0" })),
          );
        }
        if (!userOf(req)) return sendJson(res, 401, { message: "401: Unauthorized", code: 0 });
        if (route === "GET /api/v10/users/@me")
          return sendJson(res, 200, { id: options.user.id, username: options.user.username, global_name: null });
        return sendJson(
          res,
          200,
          userGuilds.map((guild) => ({ owner: false, ...guild })),
        );
      }, delayMs);
    });
    return true;
  };

  const controls: FakeOAuth = {
    setUserGuilds: (guilds) => (userGuilds = [...guilds]),
    revokeAllTokens: () => {
      accessTokens.clear();
      refreshTokens.clear();
    },
    setDelay: (ms) => (delayMs = ms),
    tokenRequests: () => tokenRequests,
    issuedTokens: () => [...issued],
  };
  return { handle, controls };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
