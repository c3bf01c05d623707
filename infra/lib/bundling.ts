import { type BundlingOptions, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import type { BuildOptions } from "esbuild";
import { repoPath } from "./paths.js";

/** The Lambda functions of a stack: entry point (exporting `handler`) and Powertools service name. */
export const FUNCTIONS = {
  api: { entry: "functions/api/src/handler.ts", service: "drover-api" },
  kv: { entry: "functions/kv/src/handler.ts", service: "drover-kv" },
  scheduler: { entry: "functions/scheduler/src/handler.ts", service: "drover-scheduler" },
  logs: { entry: "functions/logs/src/handler.ts", service: "drover-ingest" },
  events: { entry: "functions/events/src/handler.ts", service: "drover-events" },
  hooks: { entry: "functions/hooks/src/handler.ts", service: "drover-hooks" },
} as const;

export type FunctionName = keyof typeof FUNCTIONS;
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/**
 * The one description of how a function is bundled. The stack (NodejsFunction) and the bundle
 * benchmark (esbuild's API) are both derived from it, so the size the benchmark reports is the
 * size that is deployed.
 *
 * The AWS SDK is bundled rather than taken from the runtime: the functions then run the SDK
 * version the tests ran, and tree shaking keeps only the clients in use.
 */
export const BUNDLE = {
  target: "node22",
  format: "esm",
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: ["module", "main"],
  external: [] as string[],
  // Some CommonJS dependencies call require() on Node built-ins; an ES module has no require.
  banner:
    "import{createRequire as __droverRequire}from'node:module';const require=__droverRequire(import.meta.url);",
  outputFile: "index.mjs",
} as const;

/** The API bundle's size budget (minified, without its source map): 1.5 MiB. */
export const API_BUNDLE_LIMIT_BYTES = 1.5 * 1024 * 1024;

/** Lambda's Node.js honours the source maps shipped next to the bundle only when asked to. */
export const NODE_OPTIONS = "--enable-source-maps";

/** NodejsFunction bundling: always local esbuild (installed in node_modules), never Docker. */
export function nodejsBundling(): BundlingOptions {
  return {
    target: BUNDLE.target,
    format: OutputFormat.ESM,
    minify: BUNDLE.minify,
    sourceMap: BUNDLE.sourcemap,
    sourcesContent: BUNDLE.sourcesContent,
    mainFields: [...BUNDLE.mainFields],
    externalModules: [...BUNDLE.external],
    banner: BUNDLE.banner,
    forceDockerBundling: false,
  };
}

/** The same bundle through esbuild's API (what `esbuild --bundle` runs inside NodejsFunction). */
export function esbuildOptions(name: FunctionName, outdir: string): BuildOptions {
  return {
    entryPoints: [repoPath(FUNCTIONS[name].entry)],
    bundle: true,
    platform: "node",
    target: BUNDLE.target,
    format: BUNDLE.format,
    minify: BUNDLE.minify,
    sourcemap: BUNDLE.sourcemap,
    sourcesContent: BUNDLE.sourcesContent,
    mainFields: [...BUNDLE.mainFields],
    external: [...BUNDLE.external],
    banner: { js: BUNDLE.banner },
    outfile: `${outdir}/${BUNDLE.outputFile}`,
    logLevel: "warning",
  };
}
