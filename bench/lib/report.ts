import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { ratioToFloor } from "./floor.js";
import type { Machine } from "./machine.js";
import type { BenchOptions, Figure } from "./types.js";

export type BenchmarkResult = {
  name: string;
  elapsedMs: number;
  figures: Figure[];
  error?: string;
};

export type RunResults = {
  date: string;
  command: string;
  machine: Machine;
  options: BenchOptions;
  benchmarks: Array<BenchmarkResult & { figures: Array<Figure & { ratio?: number }> }>;
};

/** Git-ignored; the figures worth keeping go to BENCHMARKS.md by hand. */
export const RESULTS_FILE = fileURLToPath(new URL("../results/latest.json", import.meta.url));

export function buildResults(
  machine: Machine,
  options: BenchOptions,
  command: string,
  benchmarks: BenchmarkResult[],
): RunResults {
  return {
    date: new Date().toISOString(),
    command,
    machine,
    options,
    benchmarks: benchmarks.map((benchmark) => ({
      ...benchmark,
      figures: benchmark.figures.map((figure) => {
        const ratio = ratioToFloor(figure);
        return ratio === undefined ? figure : { ...figure, ratio };
      }),
    })),
  };
}

export function writeResults(results: RunResults, file = RESULTS_FILE): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

const HEADERS = [
  "figure",
  "value",
  "unit",
  "p50 ms",
  "p95 ms",
  "p99 ms",
  "err",
  "floor",
  "floor value",
  "ratio",
];
const RIGHT_ALIGNED = new Set([1, 3, 4, 5, 6, 8, 9]);

/** The results as a plain-text table, one section per benchmark. */
export function formatTable(results: RunResults): string {
  const rows: string[][] = [];
  const sections: Array<{ title: string; rows: string[][] }> = [];
  for (const benchmark of results.benchmarks) {
    const section = {
      title: `${benchmark.name} (${(benchmark.elapsedMs / 1000).toFixed(1)} s)`,
      rows: [] as string[][],
    };
    if (benchmark.error) section.rows.push([`FAILED: ${benchmark.error}`]);
    for (const figure of benchmark.figures) {
      const row = [
        figure.label,
        formatNumber(figure.value),
        figure.unit,
        formatMs(figure.latencyMs?.p50),
        formatMs(figure.latencyMs?.p95),
        formatMs(figure.latencyMs?.p99),
        figure.errors === undefined ? "" : String(figure.errors),
        figure.floor?.label ?? "",
        figure.floor ? `${formatNumber(figure.floor.value)} ${figure.floor.unit}` : "",
        figure.ratio === undefined ? "" : `${figure.ratio.toFixed(2)}x`,
      ];
      section.rows.push(row);
      rows.push(row);
      if (figure.failure) section.rows.push([`    FAIL: ${figure.failure}`]);
      if (figure.note) section.rows.push([`    note: ${figure.note}`]);
    }
    sections.push(section);
  }
  const widths = HEADERS.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        RIGHT_ALIGNED.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  const out = [line(HEADERS), widths.map((width) => "-".repeat(width)).join("  ")];
  for (const section of sections) {
    out.push(`[${section.title}]`);
    for (const row of section.rows) out.push(row.length === 1 ? `  ${row[0]}` : line(row));
  }
  return out.join("\n");
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return value.toPrecision(3);
}

function formatMs(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "";
  return value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
