import { z } from "zod";
import type { TokenCipher } from "../sessions/token-cipher.ts";
import type { DiscordTokens } from "./discord-oauth-client.ts";

const tokensSchema = z.object({ accessToken: z.string(), refreshToken: z.string().optional(), expiresAt: z.number() });

/** Seals a user's Discord tokens for the session record (AES-256-GCM under SESSION_SECRET). */
export function sealDiscordTokens(cipher: TokenCipher, tokens: DiscordTokens): string {
  return cipher.encrypt(
    JSON.stringify({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt }),
  );
}

/** The tokens of a sealed value, or undefined when it cannot be opened (another SESSION_SECRET, altered). */
export function openDiscordTokens(cipher: TokenCipher, sealed: string): DiscordTokens | undefined {
  const plain = cipher.decrypt(sealed);
  if (plain === undefined) return undefined;
  try {
    const parsed = tokensSchema.safeParse(JSON.parse(plain));
    return parsed.success
      ? {
          accessToken: parsed.data.accessToken,
          refreshToken: parsed.data.refreshToken,
          expiresAt: parsed.data.expiresAt,
        }
      : undefined;
  } catch {
    return undefined;
  }
}
