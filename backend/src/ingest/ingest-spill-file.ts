import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { isIngestEventKind, reviveRecordDates } from "./event-kinds/index.ts";
import type { IngestEvent, IngestEventKind } from "./event-records.ts";

/** One batch the writer could not make durable: replayed later under the same id (ingest_batches makes it idempotent). */
export interface SpilledBatch {
  batchId: string;
  kind: IngestEventKind;
  rows: IngestEvent[];
}

/** A spill file read back: its good batches, and how many lines were torn or corrupt (skipped). */
export interface SpillFileContents {
  file: string;
  batches: SpilledBatch[];
  badLines: number;
}

const FORMAT_VERSION = 1;
const SUFFIX = ".jsonl";

/**
 * The local append-only spill of ingestion (INGEST_SPILL_DIR): rows PostgreSQL could not take before shutdown go to a
 * new file `spill-<time>-<pid>.jsonl`, one JSON line per batch `{v, batchId, kind, rows, sha256}` where sha256 covers
 * the line's batch fields, written in one append and fsync'd (file and directory) before the writer reports them as
 * spilled. A line whose checksum or JSON does not hold (a torn last line after a crash mid-write) is skipped and
 * counted, never half-replayed. Plain files and node:fs: nothing else needs to be running for the spill to work.
 */
export class IngestSpillFile {
  constructor(readonly dir: string) {}

  /** Appends `batches` to a new spill file and fsyncs it; resolves with the file's path. */
  async write(batches: SpilledBatch[]): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, `spill-${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}${SUFFIX}`);
    const text = batches.map((batch) => `${encodeLine(batch)}\n`).join("");
    const handle = await open(file, "a", 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDirectory(this.dir);
    return file;
  }

  /** The spill files present, oldest first, each parsed. A missing directory means none. */
  async readAll(): Promise<SpillFileContents[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const files = names.filter((name) => name.startsWith("spill-") && name.endsWith(SUFFIX)).sort();
    const contents: SpillFileContents[] = [];
    for (const name of files) {
      const file = path.join(this.dir, name);
      contents.push({ file, ...decodeFile(await readFile(file, "utf8")) });
    }
    return contents;
  }

  /** Removes a replayed file; a file that had bad lines is kept as `<name>.bad` for an operator to look at. */
  async retire(contents: SpillFileContents): Promise<void> {
    if (contents.badLines > 0) await rename(contents.file, `${contents.file}.bad`);
    else await unlink(contents.file);
    await syncDirectory(this.dir);
  }
}

function checksum(batch: SpilledBatch): string {
  return createHash("sha256")
    .update(JSON.stringify([batch.batchId, batch.kind, batch.rows]))
    .digest("hex");
}

function encodeLine(batch: SpilledBatch): string {
  return JSON.stringify({
    v: FORMAT_VERSION,
    batchId: batch.batchId,
    kind: batch.kind,
    rows: batch.rows,
    sha256: checksum(batch),
  });
}

function decodeFile(text: string): { batches: SpilledBatch[]; badLines: number } {
  const batches: SpilledBatch[] = [];
  let badLines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const batch = decodeLine(line);
    if (batch) batches.push(batch);
    else badLines += 1;
  }
  return { batches, badLines };
}

function decodeLine(line: string): SpilledBatch | undefined {
  let parsed: { v?: unknown; batchId?: unknown; kind?: unknown; rows?: unknown; sha256?: unknown };
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (
    parsed.v !== FORMAT_VERSION ||
    typeof parsed.batchId !== "string" ||
    !isIngestEventKind(parsed.kind) ||
    !Array.isArray(parsed.rows)
  ) {
    return undefined;
  }
  // The checksum is over the rows as written (dates still strings), so it is checked before they are revived.
  const raw = { batchId: parsed.batchId, kind: parsed.kind, rows: parsed.rows as IngestEvent[] };
  if (checksum(raw) !== parsed.sha256) return undefined;
  // JSON turned the records' Dates into strings: each kind's definition names its time fields.
  return { ...raw, rows: raw.rows.map((row) => reviveRecordDates(raw.kind, row)) };
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
