import { spawn } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import {
  API_BUNDLE_LIMIT_BYTES,
  BUNDLE,
  esbuildOptions,
  FUNCTION_NAMES,
  FUNCTIONS,
  type FunctionName,
  NODE_OPTIONS,
} from "../infra/lib/bundling.js";

export type BundleMeasurement = {
  name: FunctionName;
  bytes: number;
  sourceMapBytes: number;
  /** Module init (import of the bundle, top-level code included) in a fresh process, per run. */
  initMs: number[];
  initMedianMs: number;
};

export type BundleReport = {
  bundles: BundleMeasurement[];
  apiLimitBytes: number;
  apiWithinBudget: boolean;
};

/** Nothing but loopback: the functions are pointed at a closed local port and a guard enforces it. */
const DUMMY_ENDPOINT = "http://127.0.0.1:9";

const GUARD = `import net from "node:net";
const connect = net.Socket.prototype.connect;
const loopback = (host) => host === "localhost" || host === "::1" || /^127\\./.test(host);
net.Socket.prototype.connect = function (...args) {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options = typeof first === "object" && first !== null ? first : { port: first, host: args[1] };
  const host = options.path ? "localhost" : (options.host ?? "localhost");
  if (!loopback(String(host))) {
    process.stderr.write("bench guard: blocked a connection to " + host + "\\n");
    process.exit(86);
  }
  return connect.apply(this, args);
};
`;

const PROBE = `const started = performance.now();
await import(process.env.DROVER_BENCH_BUNDLE);
process.stdout.write(JSON.stringify({ initMs: performance.now() - started }));
`;

function probeEnvironment(name: FunctionName, bundle: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NODE_OPTIONS,
    NODE_NO_WARNINGS: "1",
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "bench",
    AWS_SECRET_ACCESS_KEY: "bench",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_ENDPOINT_URL: DUMMY_ENDPOINT,
    DROVER_STAGE: "bench",
    DROVER_DYNAMODB_ENDPOINT: DUMMY_ENDPOINT,
    DROVER_SQS_ENDPOINT: DUMMY_ENDPOINT,
    DROVER_MAIN_TABLE: "drover-bench-main",
    DROVER_KV_TABLE: "drover-bench-kv",
    DROVER_LOGS_TABLE: "drover-bench-logs",
    DROVER_INGEST_QUEUE_URL: `${DUMMY_ENDPOINT}/000000000000/drover-bench-ingest`,
    DROVER_EVENT_BUS_NAME: "drover-bench-events",
    POWERTOOLS_SERVICE_NAME: FUNCTIONS[name].service,
    POWERTOOLS_LOG_LEVEL: "WARN",
    DROVER_BENCH_BUNDLE: pathToFileURL(bundle).href,
  };
}

function probeOnce(name: FunctionName, bundle: string, guard: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", pathToFileURL(guard).href, "--input-type=module", "-e", PROBE],
      {
        env: probeEnvironment(name, bundle),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0)
        return reject(new Error(`importing the ${name} bundle failed (exit ${code}): ${stderr.trim()}`));
      resolve((JSON.parse(stdout) as { initMs: number }).initMs);
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/**
 * Bundles every function exactly as the stack does (infra/lib/bundling.ts), measures each bundle
 * and its module init time in fresh Node processes (sequentially: timings on a busy machine are
 * noisy enough). The bundles live in a temporary directory that is removed afterwards.
 */
export async function measureBundles(options: { initRuns?: number } = {}): Promise<BundleReport> {
  const runs = options.initRuns ?? 5;
  const dir = await mkdtemp(join(tmpdir(), "drover-bundles-"));
  try {
    const guard = join(dir, "guard.mjs");
    await writeFile(guard, GUARD);
    const bundles: BundleMeasurement[] = [];
    for (const name of FUNCTION_NAMES) {
      const outdir = join(dir, name);
      await build(esbuildOptions(name, outdir));
      const bundle = join(outdir, BUNDLE.outputFile);
      const initMs: number[] = [];
      for (let run = 0; run < runs; run++) initMs.push(await probeOnce(name, bundle, guard));
      bundles.push({
        name,
        bytes: (await stat(bundle)).size,
        sourceMapBytes: (await stat(`${bundle}.map`)).size,
        initMs,
        initMedianMs: median(initMs),
      });
    }
    const api = bundles.find((bundle) => bundle.name === "api");
    return {
      bundles,
      apiLimitBytes: API_BUNDLE_LIMIT_BYTES,
      apiWithinBudget: api !== undefined && api.bytes <= API_BUNDLE_LIMIT_BYTES,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1);

/** The report as lines of text (for this script and the main bench runner). */
export function formatBundleReport(report: BundleReport): string[] {
  const lines = [
    "bundle      minified (KB)  source map (KB)  module init median (ms)",
    ...report.bundles.map(
      (b) =>
        `${b.name.padEnd(10)}  ${kb(b.bytes).padStart(13)}  ${kb(b.sourceMapBytes).padStart(15)}  ${b.initMedianMs.toFixed(1).padStart(23)}`,
    ),
  ];
  const api = report.bundles.find((b) => b.name === "api");
  if (api) {
    lines.push(
      `API bundle ${kb(api.bytes)} KB of a ${kb(report.apiLimitBytes)} KB budget: ${report.apiWithinBudget ? "ok" : "OVER BUDGET"}`,
    );
  }
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await measureBundles();
  for (const line of formatBundleReport(report)) console.log(line);
  if (!report.apiWithinBudget) process.exitCode = 1;
}
