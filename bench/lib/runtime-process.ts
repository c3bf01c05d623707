import { useDynamo } from "#core/dynamo/client.js";
import { startLocalRuntime } from "../../local/src/runtime.js";
import { DynamoCounter } from "./dynamo-counter.js";

/**
 * The local runtime as a process of its own, started by `startBenchRuntime` (api.ts): the API
 * under test gets its own event loop, as a Lambda has, instead of sharing one with the load
 * generator. It counts the DynamoDB requests of the code under test and answers the parent's
 * messages: `counts` (the counts since the last ask) and `stop`.
 */
type Message = { type: "counts"; id: number } | { type: "stop" };

const send = (message: unknown) => process.send?.(message);
const runtime = await startLocalRuntime({
  host: "127.0.0.1",
  port: 0,
  dataDir: undefined,
  dynamoEndpoint: process.env.DROVER_BENCH_DYNAMO_ENDPOINT,
  namePrefix: process.env.DROVER_BENCH_NAME_PREFIX,
  schedulerIntervalMs: 3_600_000,
});
const counter = new DynamoCounter(useDynamo());
const { stop, ...described } = runtime;

async function shutdown(code: number): Promise<never> {
  await stop().catch(() => {});
  process.exit(code);
}

process.on("message", (message: Message) => {
  if (message.type === "counts") send({ type: "counts", id: message.id, counts: counter.take() });
  else if (message.type === "stop") void shutdown(0);
});
// The bench process went away without stopping us: stop too.
process.on("disconnect", () => void shutdown(1));
send({ type: "ready", runtime: described });
