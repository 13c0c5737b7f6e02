/** A table of strings, printed as an aligned Markdown table (readable in a terminal, pasteable into docs). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  return [line(headers), `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`, ...rows.map(line)].join("\n");
}

/** Calls per second, rounded, with thousands separators: "38,412/s". */
export function formatRate(perSecond: number): string {
  return `${Math.round(perSecond).toLocaleString("en-US")}/s`;
}

/** A ratio: "0.897x" below 2 (three decimals, so 0.897 never reads as a passing 0.90), "5.31x", "123x". */
export function formatRatio(ratio: number): string {
  if (ratio < 2) return `${ratio.toFixed(3)}x`;
  return `${ratio >= 100 ? ratio.toFixed(0) : ratio.toFixed(2)}x`;
}

/** Milliseconds with a precision that suits the size: "0.012 ms", "3.4 ms", "251 ms". */
export function formatMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}
