import type { Prisma } from "../../generated/prisma/client.ts";

/** The fields of record `R` that hold a time (JSON turns them into strings; the spill replay turns them back). */
export type DateFieldsOf<R> = { [F in keyof R]-?: R[F] extends Date ? F : never }[keyof R];

/**
 * One kind of stored guild event: its table and how a batch of its records is inserted. Which analytics an event
 * of this kind affects is not written here: it is derived from each analytic's `reads` (invalidation-table.ts).
 */
export interface EventKindDefinition<R extends { kind: string }> {
  /** The table its rows go to. */
  table: string;
  /** Every time field of the record, so a record written to the spill file as JSON is revived exactly. */
  dateFields: { readonly [F in DateFieldsOf<R>]: true };
  /**
   * The `INSERT INTO <table> ... SELECT FROM unnest(...)` of one batch, one array parameter per column, guarded by
   * `WHERE EXISTS (SELECT 1 FROM marker)`: it is embedded in the statement of ingest-repository.ts that defines
   * the `marker` CTE, so the rows go in only when the batch id was not stored before. Ends in `RETURNING 1` so the
   * enclosing statement counts the rows inserted. Every value is a bound parameter.
   */
  guardedInsert(records: readonly R[]): Prisma.Sql;
}

/** Declares an event kind (identity at run time; the type checks the date fields against the record). */
export function defineEventKind<R extends { kind: string }>(
  definition: EventKindDefinition<R>,
): EventKindDefinition<R> {
  return definition;
}

/** One column of a batch, as the array parameter of `unnest`. */
export function column<R, V>(records: readonly R[], pick: (record: R) => V): V[] {
  return records.map(pick);
}
