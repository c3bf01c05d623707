import { backfillBenchmark } from "./backfill.js";
import { clientBenchmark } from "./client.js";
import { dynamodbLocalBenchmark } from "./dynamodb-local.js";
import { eventsBenchmark } from "./events.js";
import { floorsBenchmark } from "./floors.js";
import { kvBenchmark } from "./kv.js";
import { bundlesBenchmark } from "./lib/bundles-benchmark.js";
import { runBenchmarks } from "./lib/runner.js";
import type { Benchmark } from "./lib/types.js";
import { logsBenchmark } from "./logs.js";
import { memoryBenchmark } from "./memory.js";
import { noisyBenchmark } from "./noisy.js";
import { orchestrationBenchmark } from "./orchestration.js";
import { schedulerBenchmark } from "./scheduler.js";
import { sdkBenchmark } from "./sdk.js";
import { webBenchmark } from "./web.js";

// The SDK's "upgrade to Node 22" notice would interleave with the progress lines on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** Every benchmark, in the order `npm run bench` runs them; floors first so the others can compare. */
const BENCHMARKS: readonly Benchmark[] = [
  floorsBenchmark,
  bundlesBenchmark,
  kvBenchmark,
  orchestrationBenchmark,
  clientBenchmark,
  eventsBenchmark,
  dynamodbLocalBenchmark,
  logsBenchmark,
  webBenchmark,
  schedulerBenchmark,
  backfillBenchmark,
  sdkBenchmark,
  memoryBenchmark,
  noisyBenchmark,
];

process.exitCode = await runBenchmarks(BENCHMARKS, process.argv.slice(2));
