import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../db/prisma-client.ts";

/** An API key as stored: never the secret, only its hash and display prefix. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  keyPrefix: string;
  keyHash: string;
  scope: "admin" | "guild";
  guildIds: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Data access for API keys (the `api_keys` table). */
export class ApiKeyRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Stores a new key's hash and metadata. */
  async insert(key: {
    name: string;
    keyPrefix: string;
    keyHash: string;
    scope: "admin" | "guild";
    guildIds: string[];
  }): Promise<ApiKeyRecord> {
    const row = await this.prisma.apiKey.create({ data: { id: randomUUID(), ...key } });
    return toRecord(row);
  }

  /** The key with this hash, revoked or not. */
  async findByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.prisma.apiKey.findUnique({ where: { keyHash } });
    return row ? toRecord(row) : undefined;
  }

  /** The key with this id, revoked or not. */
  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.prisma.apiKey.findUnique({ where: { id } });
    return row ? toRecord(row) : undefined;
  }

  /** Every key, newest first. */
  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.prisma.apiKey.findMany({ orderBy: [{ createdAt: "desc" }, { id: "asc" }] });
    return rows.map(toRecord);
  }

  /** Marks a key revoked; undefined when no such key; a revoked key keeps its first revocation time. */
  async revoke(id: string, at: Date): Promise<ApiKeyRecord | undefined> {
    await this.prisma.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
    const row = await this.prisma.apiKey.findUnique({ where: { id } });
    return row ? toRecord(row) : undefined;
  }

  /** Records that a key was used. */
  async touchLastUsed(id: string, at: Date): Promise<void> {
    await this.prisma.apiKey.updateMany({ where: { id }, data: { lastUsedAt: at } });
  }
}

function toRecord(row: {
  id: string;
  name: string;
  keyPrefix: string;
  keyHash: string;
  scope: string;
  guildIds: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}): ApiKeyRecord {
  return { ...row, scope: row.scope === "admin" ? "admin" : "guild" };
}
