import { getFloor, putIfAbsentFloor } from "./floors.js";
import { graphqlClient, startBenchRuntime } from "./lib/api.js";
import { throughputFigure } from "./lib/figures.js";
import { floorOf } from "./lib/floor.js";
import { httpRequest } from "./lib/http.js";
import { type Measurement, measure, type Operation } from "./lib/measure.js";
import { measurePaired, roundRatios } from "./lib/paired.js";
import type { Benchmark, Figure } from "./lib/types.js";

/**
 * The KV store through the API over HTTP, as a client sees it: `get` (the Prefect client's
 * `key_value(where: {key: {_eq}}) { value }`) and `set` (`set_key_value`, overwriting existing
 * keys, last write wins) over GraphQL, and the same two over the REST face, at the run's
 * concurrency (32 by default). The local runtime (API + KV handlers) runs in a process of its own
 * on the bench's DynamoDB Local, and each figure is compared with its raw floor measured alongside
 * it in alternating rounds (bench/lib/paired.ts): GetItem for gets, PutItem for sets.
 */
const KEYS = 256;
/** Operations over which the runtime's DynamoDB requests per operation are counted. */
const COUNTED_OPERATIONS = 1000;
/**
 * The API path is JavaScript that V8 optimizes over its first few thousand requests (measured:
 * Node CPU per GraphQL get falls from ~5 ms to ~2.6 ms), so every operation runs mixed this long
 * before any is measured, as the floors give DynamoDB Local's JVM its warm-up.
 */
const API_WARMUP_MS = 4000;
const VALUE = { watermark: "2026-11-21T00:00:00Z", processed: 12_345, tags: ["bench", "kv"] };

const GET_QUERY = "query($key: String!) { key_value(where: { key: { _eq: $key } }) { value } }";
const SET_MUTATION = "mutation($input: set_key_value_input!) { set_key_value(input: $input) { id } }";

export const kvBenchmark: Benchmark = {
  name: "kv",
  description: "KV get/set through the API over HTTP (GraphQL and REST) vs raw GetItem/PutItem",
  run: async (context) => {
    const runtime = await startBenchRuntime(context, "drover-bench-kv");
    try {
      const secret = runtime.bootstrap.secret;
      if (!secret) throw new Error("the bench runtime created no bootstrap key");
      const headers = { "content-type": "application/json", authorization: `Bearer ${secret}` };
      const keyOf = (sequence: number) => `bench/kv/${sequence % KEYS}`;

      const graphql = graphqlClient(runtime.graphqlUrl, secret);
      const rest = async (method: "GET" | "PUT", key: string, body?: unknown) => {
        const response = await httpRequest(`${runtime.url}/kv/${encodeURIComponent(key)}`, {
          method,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        if (response.status >= 300) throw new Error(`REST ${method}: ${response.status} ${response.body}`);
      };

      const seeded = await measure(
        async (_worker, sequence) => {
          await rest("PUT", keyOf(sequence), { value: VALUE });
          return undefined;
        },
        { concurrency: 8, count: KEYS },
      );
      if (seeded.errors > 0) throw new Error(`seeding ${KEYS} keys failed: ${seeded.firstError}`);

      const timing = {
        concurrency: context.options.concurrency,
        durationMs: context.options.durationMs,
        warmupMs: context.options.warmupMs,
      };
      const gqlGet: Operation = async (_worker, sequence) => {
        const data = await graphql(GET_QUERY, { key: keyOf(sequence) });
        if ((data.key_value as unknown[]).length !== 1) throw new Error("get found no pair");
        return undefined;
      };
      const gqlSet: Operation = async (_worker, sequence) => {
        await graphql(SET_MUTATION, { input: { key: keyOf(sequence), value: { ...VALUE, sequence } } });
        return undefined;
      };
      const restGet: Operation = async (_worker, sequence) => {
        await rest("GET", keyOf(sequence));
        return undefined;
      };
      const restSet: Operation = async (_worker, sequence) => {
        await rest("PUT", keyOf(sequence), { value: { ...VALUE, sequence } });
        return undefined;
      };

      const operations = [gqlGet, gqlSet, restGet, restSet];
      await measure(
        (worker, sequence) => (operations[sequence % operations.length] as Operation)(worker, sequence),
        { concurrency: context.options.concurrency, durationMs: API_WARMUP_MS },
      );

      const n = context.options.concurrency;
      const dynamo = await context.environment.dynamo();
      const getItem = await getFloor(dynamo);
      const putItem = putIfAbsentFloor(dynamo);
      const figures: Figure[] = [];
      const record = (figure: Figure) => {
        figures.push(figure);
        const ratio = figure.floor ? ` (${(figure.value / figure.floor.value).toFixed(2)}x floor)` : "";
        context.log(`  ${figure.label}: ${figure.value.toFixed(1)} ${figure.unit}${ratio}`);
      };

      const getLabel = `DynamoDB GetItem, ${n} concurrent`;
      const putLabel = `DynamoDB PutItem if attribute_not_exists, ${n} concurrent`;
      const cases: Array<[string, string, Operation, Operation, string]> = [
        [
          "graphql.get",
          `KV get, GraphQL key_value(where key _eq), ${n} concurrent`,
          gqlGet,
          getItem,
          getLabel,
        ],
        [
          "graphql.set",
          `KV set, GraphQL set_key_value (overwrite), ${n} concurrent`,
          gqlSet,
          putItem,
          putLabel,
        ],
        ["rest.get", `KV get, REST GET /kv/{key}, ${n} concurrent`, restGet, getItem, getLabel],
        ["rest.set", `KV set, REST PUT /kv/{key} (overwrite), ${n} concurrent`, restSet, putItem, putLabel],
      ];
      for (const [key, label, operation, floorOperation, floorLabel] of cases) {
        // Requests per operation, counted over a fixed number of operations of their own.
        await runtime.counts();
        const counted = await measure(operation, { concurrency: n, count: COUNTED_OPERATIONS });
        const counts = await runtime.counts();
        context.log(
          `  ${label}: DynamoDB requests per operation ${(counts.requests / Math.max(1, counted.operations)).toFixed(2)} (${JSON.stringify(counts.byCommand)})`,
        );
        const paired = await measurePaired(operation, floorOperation, timing);
        const floor = throughputFigure(
          `kv.${key}.floor`,
          `${floorLabel}, alongside (median of ${paired.ratios.length})`,
          paired.floor,
        );
        const rounds = roundRatios(paired);
        record(
          throughputFigure(`kv.${key}.concurrent`, label, paired.ours, "ops/s", {
            floor: floorOf(floor),
            note: rounds,
          }),
        );
        if (key.endsWith(".get")) {
          for (const percentile of ["p50", "p99"] as const) {
            record(latencyFigure(`kv.${key}.${percentile}`, label, percentile, paired.ours, floor));
          }
        }
      }
      return figures;
    } finally {
      await runtime.stop();
    }
  },
};

/**
 * A latency percentile next to the floor's. The table's ratio is ours / floor here (lower is
 * better): at most 2.0 meets the target "at least 0.5 of the floor".
 */
function latencyFigure(
  key: string,
  label: string,
  percentile: "p50" | "p99",
  measurement: Measurement,
  floor: Figure,
): Figure {
  const floorMs = floor.latencyMs?.[percentile] ?? Number.NaN;
  const ours = measurement.latencyMs[percentile];
  return {
    key,
    label: `${label}: ${percentile} latency`,
    value: ours,
    unit: "ms",
    floor: { label: `${floor.label}: ${percentile}`, value: floorMs, unit: "ms" },
    note: `latency ratio ours/floor ${(ours / floorMs).toFixed(2)} (floor/ours ${(floorMs / ours).toFixed(2)}; target floor/ours >= 0.5)`,
  };
}
