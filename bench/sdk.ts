import { Readable } from "node:stream";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { Benchmark, Figure } from "./lib/types.js";

/**
 * What the AWS SDK itself costs per DynamoDB request, in CPU of this process, with no network and
 * no DynamoDB: the application's document client (`createDocumentClient`'s settings) over a request
 * handler that answers every request at once with a canned response. It is the part of every
 * DynamoDB figure that neither Drover nor DynamoDB Local can change (middleware, signing, endpoint
 * rules, (un)marshalling), paid once per request by the floors and once per request by the API:
 * an operation of the API that makes 1.5 requests where its floor makes 1 pays it 1.5 times.
 * Figures: microseconds of CPU (user + system) per request, the median of three rounds.
 */
const REQUESTS = 5000;
const ROUNDS = 3;

const NOW = "2026-11-21T22:11:25.836Z";
const SERIALIZED = {
  type: "Running",
  message: "Running.",
  context: { tags: [] },
  cached_inputs: {},
  _result: { type: "NoResultType", __version__: "1.4.1" },
  __version__: "1.4.1",
};
const ENTRY = {
  state: "Running",
  message: "Running.",
  serialized_state: SERIALIZED,
  start_time: null,
  timestamp: NOW,
};
/** A task run item as a transition returns it (ALL_NEW), with one history entry. */
const TASK_RUN = {
  pk: "33b238e3-e5bd-4d43-a97c-15d1ccdc8768#task-run#ae6cb7f3-e96e-5be8-beb8-5db475ca3fcb",
  sk: "task-run",
  entity: "task-run",
  id: "ae6cb7f3-e96e-5be8-beb8-5db475ca3fcb",
  tenant_id: "33b238e3-e5bd-4d43-a97c-15d1ccdc8768",
  flow_run_id: "1be97aa7-c749-409a-a92a-dda4987fa9ca",
  task_id: "1e0b3297-80fe-5e3e-b1f0-27dafbb9b98d",
  task_slug: "transform-1",
  map_index: -1,
  gsi1pk: "33b238e3-e5bd-4d43-a97c-15d1ccdc8768#flow-run#1be97aa7-c749-409a-a92a-dda4987fa9ca#task-runs",
  gsi1sk: "1e0b3297-80fe-5e3e-b1f0-27dafbb9b98d#-",
  version: 2,
  state: "Running",
  previous_state: "Pending",
  serialized_state: SERIALIZED,
  state_message: "Running.",
  state_timestamp: NOW,
  state_start_time: null,
  start_time: NOW,
  created: NOW,
  updated: NOW,
  history: [ENTRY],
  history_bytes: 275,
};

/** The application's document client over a handler that answers `body` to every request. */
function cannedClient(body: string): DynamoDBDocumentClient {
  const raw = new DynamoDBClient({
    region: "us-east-1",
    endpoint: "http://127.0.0.1:9",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 5,
    requestHandler: {
      handle: async () => ({
        response: {
          statusCode: 200,
          headers: { "content-type": "application/x-amz-json-1.0" },
          body: Readable.from([Buffer.from(body)]),
        },
      }),
    } as never,
  });
  return DynamoDBDocumentClient.from(raw, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

type Case = {
  key: string;
  label: string;
  client: DynamoDBDocumentClient;
  command: () => unknown;
  /** The canned response, as the client hands it over, is what was sent: the SDK really parsed it. */
  check: (output: Record<string, unknown>) => boolean;
};

const CASES: Case[] = [
  {
    key: "sdk.get_projected",
    label: "AWS SDK CPU per request: GetItem of one attribute (the Running check's read)",
    client: cannedClient(JSON.stringify({ Item: marshall({ state: "Running" }) })),
    command: () =>
      new GetCommand({
        TableName: "main",
        Key: { pk: "p", sk: "s" },
        ProjectionExpression: "#state",
        ExpressionAttributeNames: { "#state": "state" },
        ConsistentRead: true,
      }),
    check: (output) => (output.Item as { state?: string } | undefined)?.state === "Running",
  },
  {
    key: "sdk.update_versioned",
    label: "AWS SDK CPU per request: the floor's UpdateItem (SET version + 1 if version = :v)",
    client: cannedClient("{}"),
    command: () =>
      new UpdateCommand({
        TableName: "main",
        Key: { pk: "p", sk: "item" },
        UpdateExpression: "SET #version = #version + :one",
        ConditionExpression: "#version = :expected",
        ExpressionAttributeNames: { "#version": "version" },
        ExpressionAttributeValues: { ":one": 1, ":expected": 1 },
      }),
    check: (output) => output.Attributes === undefined,
  },
  {
    key: "sdk.update_transition",
    label: "AWS SDK CPU per request: a task run transition's UpdateItem (ALL_NEW, history appended)",
    client: cannedClient(JSON.stringify({ Attributes: marshall(TASK_RUN) })),
    command: () =>
      new UpdateCommand({
        TableName: "main",
        Key: { pk: TASK_RUN.pk, sk: TASK_RUN.sk },
        UpdateExpression:
          "SET previous_state = #state, version = version + :one, #state = :type, serialized_state = :serialized, state_message = :message, state_timestamp = :now, state_start_time = :start, updated = :now, history = list_append(if_not_exists(history, :empty), :entry), history_bytes = if_not_exists(history_bytes, :zero) + :size, start_time = if_not_exists(start_time, :now)",
        ConditionExpression:
          "attribute_exists(pk) AND (attribute_not_exists(history_bytes) OR history_bytes <= :room) AND version = :expected",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":one": 1,
          ":type": "Running",
          ":serialized": SERIALIZED,
          ":message": "Running.",
          ":now": NOW,
          ":start": null,
          ":empty": [],
          ":entry": [ENTRY],
          ":zero": 0,
          ":size": 275,
          ":room": 3821,
          ":expected": 1,
        },
        ReturnValues: "ALL_NEW",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    check: (output) => JSON.stringify(output.Attributes) === JSON.stringify(TASK_RUN),
  },
];

async function cpuPerRequest(testCase: Case, requests: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < requests; i++) await testCase.client.send(testCase.command() as never);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / requests;
}

export const sdkBenchmark: Benchmark = {
  name: "sdk",
  description: "AWS SDK CPU per DynamoDB request (document client, canned responses, no network)",
  run: async (context) => {
    for (const testCase of CASES) {
      const output = (await testCase.client.send(testCase.command() as never)) as Record<string, unknown>;
      if (!testCase.check(output))
        throw new Error(`${testCase.key}: unexpected output ${JSON.stringify(output)}`);
      // V8 compiles the SDK's paths over the first thousands of requests.
      await cpuPerRequest(testCase, REQUESTS);
    }
    const rounds = new Map<string, number[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const testCase of CASES) {
        rounds.set(testCase.key, [
          ...(rounds.get(testCase.key) ?? []),
          await cpuPerRequest(testCase, REQUESTS),
        ]);
      }
    }
    return CASES.map((testCase): Figure => {
      const values = [...(rounds.get(testCase.key) ?? [])].sort((a, b) => a - b);
      const median = values[Math.floor(values.length / 2)] ?? Number.NaN;
      context.log(
        `  ${testCase.label}: ${median.toFixed(0)} µs (rounds ${values.map((v) => v.toFixed(0)).join(", ")})`,
      );
      return {
        key: testCase.key,
        label: testCase.label,
        value: median,
        unit: "µs CPU",
        note: `median of ${ROUNDS} rounds of ${REQUESTS} sequential requests: ${values.map((v) => v.toFixed(0)).join(", ")} µs`,
      };
    });
  },
};
