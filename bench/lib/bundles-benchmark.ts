import { type BundleReport, measureBundles } from "../bundles.js";
import type { Benchmark, Figure } from "./types.js";

/** bench/bundles.ts in the runner: each function's bundle size, source map and module init time. */
export const bundlesBenchmark: Benchmark = {
  name: "bundles",
  description: "Lambda bundles as the stack builds them: size and module init time in a fresh process",
  run: async () => bundleFigures(await measureBundles()),
};

export function bundleFigures(report: BundleReport): Figure[] {
  return report.bundles.flatMap((bundle) => {
    const isApi = bundle.name === "api";
    const size: Figure = {
      key: `bundles.${bundle.name}.bytes`,
      label: `${bundle.name} bundle, minified`,
      value: bundle.bytes,
      unit: "bytes",
      ...(isApi
        ? {
            floor: { label: "API bundle budget", value: report.apiLimitBytes, unit: "bytes" },
            ...(report.apiWithinBudget ? {} : { failure: "the API bundle is over its size budget" }),
          }
        : {}),
    };
    return [
      size,
      {
        key: `bundles.${bundle.name}.source_map_bytes`,
        label: `${bundle.name} source map`,
        value: bundle.sourceMapBytes,
        unit: "bytes",
      },
      {
        key: `bundles.${bundle.name}.init_ms`,
        label: `${bundle.name} module init, median`,
        value: bundle.initMedianMs,
        unit: "ms",
        note: `runs: ${bundle.initMs.map((ms) => ms.toFixed(1)).join(", ")} ms`,
      },
    ];
  });
}
