import { DiscordUnavailableError, OAuthRefusedError } from "../../errors.ts";

/** Where Discord's OAuth2 is and who this application is to it. */
export interface DiscordOAuthSettings {
  /** REST base without version (DISCORD_API_URL): token at `${apiUrl}/v10/oauth2/token`, users at `${apiUrl}/v10/users/@me`. */
  apiUrl: string;
  /** The browser-facing authorize page (DISCORD_OAUTH_AUTHORIZE_URL, default https://discord.com/oauth2/authorize). */
  authorizeUrl: string;
  clientId: string;
  clientSecret: string;
  /** Longest wait for one Discord request, in ms (DISCORD_OAUTH_TIMEOUT_MS, default 5,000). */
  timeoutMs: number;
}

/** Discord OAuth2 tokens of one user. */
export interface DiscordTokens {
  accessToken: string;
  refreshToken: string | undefined;
  /** When the access token expires, ms since the epoch. */
  expiresAt: number;
}

/** The signed-in user, as `/users/@me` answers. */
export interface DiscordUser {
  id: string;
  username: string;
}

/** One entry of `/users/@me/guilds`. */
export interface DiscordUserGuild {
  id: string;
  name: string;
  owner: boolean;
  /** Permission bit set as a decimal string. */
  permissions: string;
}

/** Discord answered 401/403 to a user token: the token was revoked or the app de-authorised. */
export class DiscordTokenRejectedError extends Error {
  constructor(readonly status: number) {
    super(`discord rejected the user token (HTTP ${status})`);
    this.name = "DiscordTokenRejectedError";
  }
}

/** The OAuth2 scopes asked for: who the user is and their guilds (with permissions). */
export const OAUTH_SCOPES = "identify guilds";

/**
 * A small OAuth2 client for Discord's authorization-code flow with PKCE: every call bounded by `timeoutMs`,
 * tokens never logged (errors carry status codes and Discord's error code only). Hand-written over fetch because
 * Discord's flow is three documented requests; see docs/auth.md.
 */
export class DiscordOAuthClient {
  constructor(private readonly settings: DiscordOAuthSettings) {}

  /** The authorize URL the browser is sent to. */
  authorizeUrl(input: { state: string; codeChallenge: string; redirectUri: string }): string {
    const url = new URL(this.settings.authorizeUrl);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: this.settings.clientId,
      scope: OAUTH_SCOPES,
      state: input.state,
      redirect_uri: input.redirectUri,
      code_challenge: input.codeChallenge,
      code_challenge_method: "S256",
    }).toString();
    return url.toString();
  }

  /** Exchanges an authorization code; OAuthRefusedError when Discord refuses it, DiscordUnavailableError when it cannot answer. */
  async exchangeCode(input: { code: string; codeVerifier: string; redirectUri: string }): Promise<DiscordTokens> {
    return this.tokenRequest({
      grant_type: "authorization_code",
      code: input.code,
      redirect_uri: input.redirectUri,
      code_verifier: input.codeVerifier,
    });
  }

  /** New tokens from a refresh token; DiscordTokenRejectedError when it is no longer valid. */
  async refresh(refreshToken: string): Promise<DiscordTokens> {
    try {
      return await this.tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken });
    } catch (error) {
      if (error instanceof OAuthRefusedError) throw new DiscordTokenRejectedError(400);
      throw error;
    }
  }

  /** `/users/@me`. */
  async user(accessToken: string): Promise<DiscordUser> {
    const body = (await this.getJson("/users/@me", `Bearer ${accessToken}`)) as {
      id?: unknown;
      username?: unknown;
      global_name?: unknown;
    };
    if (typeof body.id !== "string" || !/^\d{1,20}$/.test(body.id))
      throw new DiscordUnavailableError("Discord answered /users/@me without a user id");
    const name =
      typeof body.global_name === "string" && body.global_name ? body.global_name : String(body.username ?? body.id);
    return { id: body.id, username: name.slice(0, 100) };
  }

  /** `/users/@me/guilds` of a user (Discord returns up to 200, the most a user can join). */
  async userGuilds(accessToken: string): Promise<DiscordUserGuild[]> {
    return parseGuilds(await this.getJson("/users/@me/guilds", `Bearer ${accessToken}`));
  }

  /** `/users/@me/guilds` of the bot (pages of 200 followed with `after`, at most `maxPages`). */
  async botGuildIds(botToken: string, maxPages = 50): Promise<string[]> {
    const ids: string[] = [];
    let after = "0";
    for (let page = 0; page < maxPages; page += 1) {
      const guilds = parseGuilds(await this.getJson(`/users/@me/guilds?limit=200&after=${after}`, `Bot ${botToken}`));
      ids.push(...guilds.map((guild) => guild.id));
      if (guilds.length < 200) break;
      after = guilds.at(-1)!.id;
    }
    return ids;
  }

  private async tokenRequest(form: Record<string, string>): Promise<DiscordTokens> {
    const basic = Buffer.from(
      `${encodeURIComponent(this.settings.clientId)}:${encodeURIComponent(this.settings.clientSecret)}`,
    ).toString("base64");
    const response = await this.send("/oauth2/token", {
      method: "POST",
      headers: {
        authorization: `Basic ${basic}`,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: new URLSearchParams(form).toString(),
    });
    const body = (await this.readJson(response)) as Record<string, unknown>;
    if (response.status >= 400 && response.status < 500) {
      // Discord's OAuth error code (e.g. invalid_grant) says what was wrong; its description is not echoed.
      throw new OAuthRefusedError("Discord refused the authorization code", {
        discordError: String(body.error ?? response.status).slice(0, 60),
      });
    }
    if (!response.ok) throw new DiscordUnavailableError(`Discord's token endpoint failed (HTTP ${response.status})`);
    if (typeof body.access_token !== "string")
      throw new DiscordUnavailableError("Discord's token endpoint answered without an access token");
    const expiresIn = typeof body.expires_in === "number" ? body.expires_in : 604_800;
    return {
      accessToken: body.access_token,
      refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : undefined,
      expiresAt: Date.now() + expiresIn * 1000,
    };
  }

  private async getJson(path: string, authorization: string): Promise<unknown> {
    const response = await this.send(path, { headers: { authorization, accept: "application/json" } });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new DiscordTokenRejectedError(response.status);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new DiscordUnavailableError(`Discord answered ${path.split("?")[0]} with HTTP ${response.status}`);
    }
    return this.readJson(response);
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    const url = `${this.settings.apiUrl.replace(/\/+$/, "")}/v10${path}`;
    try {
      return await fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(this.settings.timeoutMs) });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw new DiscordUnavailableError(
        timedOut ? `Discord did not answer within ${this.settings.timeoutMs} ms` : "Discord could not be reached",
        error,
      );
    }
  }

  private async readJson(response: Response): Promise<unknown> {
    try {
      return await response.json();
    } catch (error) {
      // A body cut off by the timeout is a timeout too.
      throw new DiscordUnavailableError(`Discord answered HTTP ${response.status} without valid JSON in time`, error);
    }
  }
}

function parseGuilds(body: unknown): DiscordUserGuild[] {
  if (!Array.isArray(body)) throw new DiscordUnavailableError("Discord answered a guild list that is not an array");
  return body
    .filter(
      (entry): entry is Record<string, unknown> =>
        typeof entry === "object" && entry !== null && typeof (entry as { id?: unknown }).id === "string",
    )
    .map((entry) => ({
      id: String(entry.id),
      name: String(entry.name ?? ""),
      owner: entry.owner === true,
      permissions: typeof entry.permissions === "string" ? entry.permissions : "0",
    }));
}
