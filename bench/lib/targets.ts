/** One speed or correctness target and what this run measured for it. */
export interface TargetResult {
  /** What the target says, e.g. "L2 hit >= 0.9x limit (1 key, sequential)". */
  target: string;
  /** The measured figure, e.g. "1.12x". */
  measured: string;
  pass: boolean;
  /** Why it failed or what to keep in mind, when useful. */
  note?: string;
}

/** Collects target results across bench sections for the final summary. */
export class TargetLog {
  readonly results: TargetResult[] = [];

  /** Records one target result and returns its PASS/FAIL label. */
  record(result: TargetResult): string {
    this.results.push(result);
    return passLabel(result.pass);
  }

  /** True when every recorded target passed. */
  get allPassed(): boolean {
    return this.results.every((result) => result.pass);
  }
}

/** "PASS" or "FAIL". */
export function passLabel(pass: boolean): string {
  return pass ? "PASS" : "FAIL";
}
