import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts small secrets (Discord OAuth tokens) for storage in Redis with AES-256-GCM from node:crypto: a key
 * derived from SESSION_SECRET with HKDF-SHA256, a random 96-bit IV per message, the 128-bit tag checked on
 * decryption (a tampered or foreign value fails). Hand-written because it is eight lines over Node's own
 * primitives; see docs/auth.md.
 */
export class TokenCipher {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(
      hkdfSync("sha256", Buffer.from(secret, "utf8"), Buffer.alloc(0), "spywatcher session tokens v1", 32),
    );
  }

  /** `v1.<base64url(iv | tag | ciphertext)>`. */
  encrypt(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
  }

  /** The plain text, or undefined when the value was not encrypted with this secret or was altered. */
  decrypt(sealed: string): string | undefined {
    const [version, payload] = sealed.split(".", 2);
    if (version !== VERSION || !payload) return undefined;
    const raw = Buffer.from(payload, "base64url");
    if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      return undefined;
    }
  }
}
