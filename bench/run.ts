import { floorsBenchmark } from "./floors.js";
import { runBenchmarks } from "./lib/runner.js";
import type { Benchmark } from "./lib/types.js";

/** Every benchmark, in the order `npm run bench` runs them; floors first so the others can compare. */
const BENCHMARKS: readonly Benchmark[] = [floorsBenchmark];

// The SDK's "upgrade to Node 22" notice would interleave with the progress lines on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

process.exitCode = await runBenchmarks(BENCHMARKS, process.argv.slice(2));
