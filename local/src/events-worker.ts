import { parentPort, workerData } from "node:worker_threads";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { configure, parseConfig } from "#core/config.js";
import {
  createRawClient,
  DYNAMO_TIMEOUTS,
  LOCAL_REGION,
  localCredentials,
  MAX_ATTEMPTS,
} from "#core/dynamo/client.js";
import { MAIN_TABLE, physicalTableName } from "#core/dynamo/tables.js";
import { installEventBus } from "#core/events/bus.js";
import { createSqsClient } from "#core/sqs/client.js";
import { handler as eventsHandler } from "../../functions/events/src/handler.js";
import { handler as hooksHandler } from "../../functions/hooks/src/handler.js";
import { LocalEventBus } from "./event-bus.js";
import { startSqsPoller } from "./sqs-poller.js";
import { startStreamPoller } from "./stream-poller.js";

/**
 * The event backbone's consumers on a thread of their own (started by local/src/events.ts): the
 * main table's stream into the events function, and the hooks queue into the hooks function, as
 * Lambda runs them beside the API rather than in it. Their JSON, HTTP and SQLite work then never
 * waits in the API's event loop, and the second core can take it. Every event the bus carries is
 * also posted to the parent (the runtime's `eventBus.subscribe`).
 */
export type EventsWorkerData = {
  env: Record<string, string | undefined>;
  hooksQueueArn: string;
  checkpointFile: string | undefined;
};

export type EventsWorkerMessage =
  | { type: "event"; event: unknown }
  | { type: "log"; message: string }
  | { type: "stopped" };

const data = workerData as EventsWorkerData;
const post = (message: EventsWorkerMessage) => parentPort?.postMessage(message);
const config = parseConfig(data.env);
configure(config);

const sqs = createSqsClient(config);
const bus = new LocalEventBus(sqs, config.events.hooksQueueUrl ?? "", config.region);
bus.subscribe((event) => post({ type: "event", event }));
installEventBus(bus);

const dynamo = createRawClient(config, MAIN_TABLE.database);
const streams = new DynamoDBStreamsClient({
  endpoint: config.dynamoEndpoint,
  region: LOCAL_REGION,
  credentials: localCredentials(MAIN_TABLE.database),
  // As bounded as the runtime's DynamoDB calls: a DynamoDB Local that does not answer fails the read.
  retryMode: "standard",
  maxAttempts: MAX_ATTEMPTS,
  requestHandler: { ...DYNAMO_TIMEOUTS.local, throwOnRequestTimeout: true },
});
const stream = startStreamPoller({
  dynamo,
  streams,
  tableName: physicalTableName(config, MAIN_TABLE),
  region: config.region,
  handler: eventsHandler,
  checkpointFile: data.checkpointFile,
  onError: (error) => post({ type: "log", message: `events stream error: ${String(error)}` }),
});
const hooks = startSqsPoller({
  client: sqs,
  queueUrl: config.events.hooksQueueUrl ?? "",
  queueArn: data.hooksQueueArn,
  region: config.region,
  handler: hooksHandler,
  pollers: 1,
  batchWindowMs: 100,
  onError: (error) => post({ type: "log", message: `hooks consumer error: ${String(error)}` }),
});

parentPort?.on("message", async (message: { type: string }) => {
  if (message.type !== "stop") return;
  // Hooks first (a batch in hand finishes), then the stream (its current batch and checkpoint).
  await hooks.stop().catch(() => {});
  await stream.stop().catch(() => {});
  dynamo.destroy();
  streams.destroy();
  sqs.destroy();
  post({ type: "stopped" });
});
