import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { useConfig } from "#core/config.js";
import { useDynamo } from "#core/dynamo/client.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import * as Log from "#core/log/index.js";
import { LogKeys } from "#core/log/keys.js";
import { packMessages } from "#core/log/message.js";
import { TRUNCATION_MARKER } from "#core/log/record.js";
import { chunkItems } from "#core/log/store.js";
import { handler as logsHandler } from "../../functions/logs/src/handler.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { startSqsPoller } from "../../local/src/sqs-poller.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Run logs end to end through the local runtime: write_run_logs → fauxqs → the functions/logs
 * consumer → DynamoDB Local → flow_run.logs / task_run.logs.
 */
let runtime: LocalRuntime;
let api: ReturnType<typeof client>;
let tenant: string;
let sqs: SQSClient;

const WRITE = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }";

beforeAll(async () => {
  runtime = await startTestRuntime("logs", { visibilityTimeoutSeconds: 1 });
  api = client(runtime, runtime.bootstrap.secret ?? "");
  tenant = runtime.bootstrap.workspace.id;
  sqs = new SQSClient({
    endpoint: runtime.sqsEndpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
});
afterAll(async () => {
  sqs?.destroy();
  await runtime?.stop();
});

type Run = { flowRunId: string; taskRunIds: string[] };

async function data<T>(promise: Promise<{ data?: T | null; errors?: unknown }>): Promise<T> {
  const res = await promise;
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data as T;
}

let projectId: string | undefined;
/** A flow with two tasks and one run of it (its task runs are pre-created). */
async function newRun(call = api): Promise<Run> {
  if (call === api && !projectId) {
    projectId = (
      await data<{ create_project: { id: string } }>(
        call("mutation($input: create_project_input!) { create_project(input: $input) { id } }", {
          input: { name: `logs-${Date.now()}` },
        }),
      )
    ).create_project.id;
  }
  const project =
    call === api
      ? projectId
      : (
          await data<{ create_project: { id: string } }>(
            call("mutation($input: create_project_input!) { create_project(input: $input) { id } }", {
              input: { name: `logs-other-${Date.now()}` },
            }),
          )
        ).create_project.id;
  const flow = await data<{ create_flow: { id: string } }>(
    call("mutation($input: create_flow_input!) { create_flow(input: $input) { id } }", {
      input: {
        project_id: project,
        serialized_flow: {
          name: `logs-flow-${Math.random().toString(36).slice(2)}`,
          type: "prefect.core.flow.Flow",
          parameters: [],
          tasks: ["a-1", "b-1"].map((slug) => ({
            slug,
            name: slug,
            type: "prefect.tasks.core.function.FunctionTask",
          })),
          edges: [],
          run_config: { type: "UniversalRun", labels: [] },
          __version__: "1.4.1",
        },
      },
    }),
  );
  const run = await data<{ create_flow_run: { id: string } }>(
    call("mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }", {
      input: { flow_id: flow.create_flow.id },
    }),
  );
  const flowRunId = run.create_flow_run.id;
  const taskRuns = await data<{ flow_run_by_pk: { task_runs: Array<{ id: string }> } }>(
    call(`query { flow_run_by_pk(id: "${flowRunId}") { task_runs { id } } }`),
  );
  return { flowRunId, taskRunIds: taskRuns.flow_run_by_pk.task_runs.map((t) => t.id) };
}

type LogRow = { id: string; timestamp: string; message: string; level: string; task_run_id: string | null };

async function logsOf(flowRunId: string, args = "order_by: { timestamp: asc }"): Promise<LogRow[]> {
  const res = await data<{ flow_run: Array<{ logs: LogRow[] }> }>(
    api(
      `query { flow_run(where: { id: { _eq: "${flowRunId}" } }) { logs(${args}) { id timestamp message level task_run_id } } }`,
    ),
  );
  return res.flow_run[0]?.logs ?? [];
}

/** Waits until the run has `count` lines (or the timeout passes) and returns them. */
async function waitForLogs(flowRunId: string, count: number, timeoutMs = 10_000): Promise<LogRow[]> {
  const start = Date.now();
  for (;;) {
    const rows = await logsOf(flowRunId);
    if (rows.length >= count || Date.now() - start > timeoutMs) return rows;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function line(run: Run, i: number, extra: Record<string, unknown> = {}) {
  return {
    flow_run_id: run.flowRunId,
    task_run_id: null,
    timestamp: new Date(Date.UTC(2026, 10, 21, 16, 50, 0, i * 10)).toISOString().replace("Z", "123+00:00"),
    name: "prefect.CloudFlowRunner",
    level: "INFO",
    message: `line ${i}`,
    ...extra,
  };
}

describe("write_run_logs to flow_run.logs", () => {
  it("stores what the client sends and makes it readable within about a second, in time order", async () => {
    const run = await newRun();
    const lines = [3, 1, 2, 0].map((i) => line(run, i, i === 2 ? { task_run_id: run.taskRunIds[0] } : {}));
    const start = Date.now();
    const res = await data<{ write_run_logs: { success: boolean } }>(api(WRITE, { input: { logs: lines } }));
    expect(res.write_run_logs.success).toBe(true);
    const rows = await waitForLogs(run.flowRunId, 4);
    expect(Date.now() - start).toBeLessThan(1500);
    expect(rows.map((r) => r.message)).toEqual(["line 0", "line 1", "line 2", "line 3"]);
    expect(rows[2]?.task_run_id).toBe(run.taskRunIds[0]);
    expect(rows[0]?.timestamp).toBe("2026-11-21T16:50:00.000123Z");
  });

  it("accepts an agent line without timestamp or task run (the recorded agent request)", async () => {
    const run = await newRun();
    await data(
      api(WRITE, {
        input: {
          logs: [
            {
              flow_run_id: run.flowRunId,
              name: "agent",
              message: "Submitted for execution: PID: 1",
              level: "INFO",
            },
          ],
        },
      }),
    );
    const rows = await waitForLogs(run.flowRunId, 1);
    expect(rows.map((r) => [r.message, r.level])).toEqual([["Submitted for execution: PID: 1", "INFO"]]);
  });

  it("serves time windows (the client's --watch query), level filters, desc order and pagination", async () => {
    const run = await newRun();
    const lines = Array.from({ length: 20 }, (_, i) =>
      line(run, i, { level: i % 5 === 0 ? "ERROR" : "INFO", task_run_id: i < 5 ? run.taskRunIds[1] : null }),
    );
    await data(api(WRITE, { input: { logs: lines } }));
    expect(await waitForLogs(run.flowRunId, 20)).toHaveLength(20);
    const ts = (i: number) => (lines[i] as { timestamp: string }).timestamp;

    const watch = await logsOf(
      run.flowRunId,
      `order_by: { timestamp: asc }, where: { _and: [{ timestamp: { _lte: "${ts(12)}" } }, { timestamp: { _gt: "${ts(4)}" } }] }`,
    );
    expect(watch.map((r) => r.message)).toEqual([5, 6, 7, 8, 9, 10, 11, 12].map((i) => `line ${i}`));

    const errors = await logsOf(
      run.flowRunId,
      `order_by: { timestamp: asc }, where: { level: { _eq: "ERROR" } }`,
    );
    expect(errors.map((r) => r.message)).toEqual(["line 0", "line 5", "line 10", "line 15"]);

    const latest = await logsOf(run.flowRunId, "order_by: { timestamp: desc }, limit: 3");
    expect(latest.map((r) => r.message)).toEqual(["line 19", "line 18", "line 17"]);

    const page = await logsOf(
      run.flowRunId,
      "order_by: [{ timestamp: asc }, { id: asc }], limit: 5, offset: 10",
    );
    expect(page.map((r) => r.message)).toEqual([10, 11, 12, 13, 14].map((i) => `line ${i}`));

    const task = await data<{ task_run_by_pk: { logs: LogRow[] } }>(
      api(
        `query { task_run_by_pk(id: "${run.taskRunIds[1]}") { logs(order_by: { timestamp: asc }) { message } } }`,
      ),
    );
    expect(task.task_run_by_pk.logs.map((r) => r.message)).toEqual([0, 1, 2, 3, 4].map((i) => `line ${i}`));
  });

  it("orders lines with equal timestamps by id, the same way on every read", async () => {
    const run = await newRun();
    const same = "2026-11-21T17:00:00.000000+00:00";
    await data(
      api(WRITE, {
        input: { logs: ["a", "b", "c", "d"].map((m) => ({ ...line(run, 0), timestamp: same, message: m })) },
      }),
    );
    const rows = await waitForLogs(run.flowRunId, 4);
    expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort());
    expect((await logsOf(run.flowRunId)).map((r) => r.id)).toEqual(rows.map((r) => r.id));
  });
});

describe("exactly once in storage", () => {
  it("writes no duplicates when the client resends the same batch", async () => {
    const run = await newRun();
    const lines = Array.from({ length: 5 }, (_, i) => line(run, i));
    await data(api(WRITE, { input: { logs: lines } }));
    await data(api(WRITE, { input: { logs: [...lines, line(run, 5)] } }));
    await waitForLogs(run.flowRunId, 6);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await logsOf(run.flowRunId)).map((r) => r.message)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `line ${i}`),
    );
  });

  it("keeps identical lines of one batch as distinct lines", async () => {
    const run = await newRun();
    await data(api(WRITE, { input: { logs: [line(run, 1), line(run, 1)] } }));
    expect(await waitForLogs(run.flowRunId, 2)).toHaveLength(2);
  });

  it("writes no duplicates when SQS delivers a message twice", async () => {
    const run = await newRun();
    const records = asTenant(tenant, () => [
      { ...fakeRecord(run, "dup 1") },
      { ...fakeRecord(run, "dup 2") },
    ]);
    const [body] = packMessages(tenant, records);
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: runtime.ingestQueueUrl,
        Entries: [
          { Id: "a", MessageBody: body },
          { Id: "b", MessageBody: body },
        ],
      }),
    );
    await waitForLogs(run.flowRunId, 2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await logsOf(run.flowRunId)).map((r) => r.message).sort()).toEqual(["dup 1", "dup 2"]);
  });

  it("loses nothing when the consumer crashes mid-batch: the batch is redelivered", async () => {
    const run = await newRun();
    const { QueueUrl: queueUrl = "" } = await sqs.send(
      new CreateQueueCommand({ QueueName: `crash-${Date.now()}`, Attributes: { VisibilityTimeout: "1" } }),
    );
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
    const bodies = Array.from({ length: 4 }, (_, m) =>
      packMessages(
        tenant,
        Array.from({ length: 30 }, (_, i) => fakeRecord(run, `m${m} l${String(i).padStart(2, "0")}`)),
      ),
    ).flat();
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.map((MessageBody, i) => ({ Id: String(i), MessageBody })),
      }),
    );
    let invocations = 0;
    const poller = startSqsPoller({
      client: sqs,
      queueUrl,
      queueArn: Attributes?.QueueArn ?? "",
      region: "us-east-1",
      handler: async (event) => {
        invocations++;
        if (invocations === 1) {
          // Store part of the batch, then die before answering (no batchItemFailures, no deletes).
          await logsHandler({ Records: event.Records.slice(0, 1) });
          throw new Error("consumer crashed");
        }
        return logsHandler(event);
      },
    });
    try {
      const rows = await waitForLogs(run.flowRunId, 120, 15_000);
      expect(invocations).toBeGreaterThan(1);
      expect(rows).toHaveLength(120);
      expect(new Set(rows.map((r) => r.message)).size).toBe(120);
    } finally {
      await poller.stop();
    }
  });

  it("moves a poison record to the DLQ and stores the rest of its batch", async () => {
    const run = await newRun();
    const [good] = packMessages(
      tenant,
      ["before", "after"].map((m) => fakeRecord(run, m)),
    );
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: runtime.ingestQueueUrl,
        Entries: [
          { Id: "good", MessageBody: good },
          {
            Id: "poison",
            MessageBody: JSON.stringify({ kind: "log", tenant_id: tenant, logs: "not a list" }),
          },
          { Id: "garbage", MessageBody: "{not json" },
        ],
      }),
    );
    expect((await waitForLogs(run.flowRunId, 2)).map((r) => r.message).sort()).toEqual(["after", "before"]);
    const dead: string[] = [];
    const start = Date.now();
    while (dead.length < 2 && Date.now() - start < 20_000) {
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: runtime.ingestDlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      dead.push(...(received.Messages ?? []).map((m) => m.Body ?? ""));
    }
    expect(dead.sort()).toEqual(
      ["{not json", JSON.stringify({ kind: "log", tenant_id: tenant, logs: "not a list" })].sort(),
    );
  }, 30_000);
});

function fakeRecord(run: Run, message: string): Log.LogRecord {
  return {
    id: crypto.randomUUID(),
    flow_run_id: run.flowRunId,
    task_run_id: null,
    timestamp: "2026-11-21T18:00:00.000Z",
    level: "INFO",
    name: "test",
    message,
    info: null,
    created: new Date().toISOString(),
  };
}

describe("refused and adjusted input", () => {
  it("refuses malformed lines with what is wrong and where", async () => {
    const run = await newRun();
    const res = await api(WRITE, {
      input: {
        logs: [
          line(run, 0),
          line(run, 1, { level: "LOUD" }),
          line(run, 2, { timestamp: "yesterday" }),
          line(run, 3, { task_run_id: "t-1" }),
        ],
      },
    });
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    const message = res.errors?.[0]?.message ?? "";
    expect(message).toContain('logs[1].level: "LOUD" is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL');
    expect(message).toContain('logs[2].timestamp: "yesterday" is not an ISO 8601 timestamp');
    expect(message).toContain("logs[3].task_run_id: must be a UUID");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await logsOf(run.flowRunId)).toEqual([]);
  });

  it("refuses a line without a usable flow_run_id (naming it) or with a non-string message", async () => {
    const res = await api(WRITE, { input: { logs: [{ flow_run_id: "nope", message: "x" }] } });
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toContain("logs[0].flow_run_id: must be a UUID");
    const typed = await api(WRITE, { input: { logs: [{ flow_run_id: crypto.randomUUID(), message: 42 }] } });
    // graphql-js refuses it while coercing variables, before any resolver runs.
    expect(typed.errors?.[0]?.message).toContain("String cannot represent a non string value: 42");
  });

  it("refuses a batch over 4 MB with a clear error", async () => {
    const run = await newRun();
    const big = "x".repeat(900_000);
    const res = await api(WRITE, {
      input: { logs: Array.from({ length: 5 }, (_, i) => line(run, i, { message: big })) },
    });
    expect(res.errors?.[0]?.extensions?.code).toBe("PAYLOAD_TOO_LARGE");
    expect(res.errors?.[0]?.message).toMatch(/the limit is 4194304 bytes \(4 MB\)/);
  });

  it("stores a 1 MB line whole, as parts in order, and cuts one over 1 MB with a marker", async () => {
    const run = await newRun();
    const big = "é".repeat(500_000); // 1,000,000 bytes of UTF-8: the client's limit
    const huge = `${"y".repeat(1_100_000)}END`;
    await data(api(WRITE, { input: { logs: [line(run, 0, { message: big }), line(run, 1)] } }));
    const rows = await waitForLogs(run.flowRunId, 7);
    const parts = rows.filter((r) => r.message.startsWith("[part "));
    expect(parts.length).toBe(6);
    expect(parts.map((r) => r.message.replace(/^\[part \d+\/\d+\] /, "")).join("")).toBe(big);
    expect(rows.find((r) => r.message === "line 1")).toBeDefined();

    const other = await newRun();
    await data(api(WRITE, { input: { logs: [line(other, 0, { message: huge })] } }));
    const cut = await waitForLogs(other.flowRunId, 6);
    const text = cut.map((r) => r.message.replace(/^\[part \d+\/\d+\] /, "")).join("");
    expect(text.startsWith("y".repeat(1000))).toBe(true);
    expect(text).toContain(TRUNCATION_MARKER);
    expect(text).not.toContain("END");
  });

  it("refuses another workspace's flow run id, and a task run of another flow run", async () => {
    const other = await Workspace.create({ name: "Logs other" });
    const otherKey = (await asTenant(other.id, () => ApiKey.create({ name: "logs" }))).secret;
    const theirs = await newRun(client(runtime, otherKey));
    const res = await api(WRITE, { input: { logs: [line(theirs, 0)] } });
    expect(res.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(res.errors?.[0]?.message).toBe(`Flow run ${theirs.flowRunId} not found`);

    const mine = await newRun();
    const mixed = await api(WRITE, {
      input: { logs: [line(mine, 0, { task_run_id: theirs.taskRunIds[0] })] },
    });
    expect(mixed.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const second = await newRun();
    const wrongRun = await api(WRITE, {
      input: { logs: [line(mine, 0, { task_run_id: second.taskRunIds[0] })] },
    });
    expect(wrongRun.errors?.[0]?.message).toContain(`does not belong to flow run ${mine.flowRunId}`);
  });

  it("answers API_ERROR, acknowledging nothing, when SQS does not take every message", async () => {
    const run = await newRun();
    const { SQSClient: Client, SendMessageBatchCommand: Send } = await import("@aws-sdk/client-sqs");
    const original = Client.prototype.send;
    const spy = vi.spyOn(Client.prototype, "send").mockImplementation(function (
      this: SQSClient,
      command: unknown,
    ) {
      if (command instanceof Send) {
        return Promise.resolve({
          Successful: [],
          Failed: [{ Id: "0", Code: "InternalError", Message: "try again", SenderFault: false }],
        });
      }
      return (original as (c: unknown) => Promise<unknown>).call(this, command);
    } as never);
    try {
      const res = await api(WRITE, { input: { logs: [line(run, 0)] } });
      expect(res.errors?.[0]?.extensions?.code).toBe("API_ERROR");
      expect(res.errors?.[0]?.message).toContain("retry");
    } finally {
      spy.mockRestore();
    }
  });
});

describe("retention", () => {
  it("stores lines with the workspace's retention as TTL (30 days unless set)", async () => {
    const run = await newRun();
    await data(api(WRITE, { input: { logs: [line(run, 0)] } }));
    await waitForLogs(run.flowRunId, 1);
    const ttlOf = async () => {
      const result = await useDynamo(useConfig().tables.logs).send(
        new QueryCommand({
          TableName: useConfig().tables.logs,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": LogKeys.partition(tenant, run.flowRunId) },
        }),
      );
      return result.Items?.map((i) => i.ttl_epoch as number) ?? [];
    };
    const [ttl] = await ttlOf();
    expect(Math.abs((ttl ?? 0) - (Date.now() / 1000 + 30 * 86_400))).toBeLessThan(120);
    expect(await asTenant(tenant, () => Log.retentionDays())).toBe(30);
  });

  it("applies a workspace's own retention to lines stored after it is set", async () => {
    const other = await Workspace.create({ name: "Logs retention" });
    await asTenant(other.id, () => Log.setRetentionDays(7));
    expect(await asTenant(other.id, () => Log.retentionDays())).toBe(7);
  });

  it("never returns expired lines (DynamoDB Local does not delete them)", async () => {
    const run = await newRun();
    await asTenant(tenant, async () => {
      const { PutCommand } = await import("@aws-sdk/lib-dynamodb");
      await useDynamo(useConfig().tables.logs).send(
        new PutCommand({
          TableName: useConfig().tables.logs,
          Item: chunkItems(tenant, [fakeRecord(run, "expired")], Math.floor(Date.now() / 1000) - 60)[0],
        }),
      );
      await useDynamo(useConfig().tables.logs).send(
        new PutCommand({
          TableName: useConfig().tables.logs,
          Item: chunkItems(tenant, [fakeRecord(run, "live")], Math.floor(Date.now() / 1000) + 3600)[0],
        }),
      );
    });
    expect((await logsOf(run.flowRunId)).map((r) => r.message)).toEqual(["live"]);
  });
});
