import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOOKS_MAX_RECEIVES } from "#core/hook/dispatch.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { handler as hooksHandler } from "../../functions/hooks/src/handler.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { startReceiver } from "../helpers/receiver.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Cloud hooks end to end over HTTP on the local runtime (docs/events.md): a state change goes
 * through the main table's stream, the events function, the in-process bus and the hooks queue
 * to the hooks function, which calls a receiver on loopback (the runtime allows private targets,
 * as an operator of a local runtime would: DROVER_HOOK_ALLOW_PRIVATE_TARGETS=true).
 */
const CREATE = `mutation($input: create_cloud_hook_input!) { create_cloud_hook(input: $input) { id signing_secret } }`;
const DELETE = `mutation($id: uuid!) { delete_cloud_hook(input: { cloud_hook_id: $id }) { success } }`;
const INACTIVE = `mutation($id: uuid!) { set_cloud_hook_inactive(input: { cloud_hook_id: $id }) { success } }`;
const ACTIVE = `mutation($id: uuid!) { set_cloud_hook_active(input: { cloud_hook_id: $id }) { success } }`;
const TEST = `mutation($input: test_cloud_hook_input!) { test_cloud_hook(input: $input) { success error } }`;
const HOOKS = `query { cloud_hook(order_by: { created: asc }) { id name type states config active version_group_id } }`;
const DELIVERIES = `query($id: uuid!) {
  cloud_hook_delivery(where: { cloud_hook_id: { _eq: $id } }, order_by: { event_timestamp: desc }) {
    event_id event_type flow_run_id state status attempts response_code latency_ms error is_test_event
    attempt_log
  }
}`;

const HOOK_TIMEOUT_MS = 1500;

type Delivery = {
  event_id: string;
  event_type: string;
  flow_run_id: string;
  state: string;
  status: string;
  attempts: number;
  response_code: number | null;
  latency_ms: number | null;
  error: string | null;
  is_test_event: boolean;
  attempt_log: Array<{ status_code: number | null; latency_ms: number; error: string | null }>;
};

let runtime: LocalRuntime;
let apiA: Api;
let apiB: Api;
let tenantA: string;
let flowA: string;
let flowB: string;
let versionGroupA: string;

beforeAll(async () => {
  // A short attempt timeout, so that a receiver that never answers is measured in a test.
  runtime = await startTestRuntime("hooks", {
    events: true,
    env: { ...process.env, DROVER_HOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS) },
  });
  tenantA = runtime.bootstrap.workspace.id;
  apiA = client(runtime, runtime.bootstrap.secret ?? "");
  const other = await Workspace.create({ name: "Hooks other" });
  apiB = client(runtime, (await asTenant(other.id, () => ApiKey.create({ name: "hooks-b" }))).secret);
  flowA = await registerFlow(apiA, await createProject(apiA, "hooks-a"), pipelineFlow("hooks-a"));
  flowB = await registerFlow(apiB, await createProject(apiB, "hooks-b"), pipelineFlow("hooks-b"));
  const flow = await ok<{ flow_by_pk: { version_group_id: string } }>(
    apiA,
    `query { flow_by_pk(id: "${flowA}") { version_group_id } }`,
  );
  versionGroupA = flow.flow_by_pk.version_group_id;
});
afterAll(async () => {
  await runtime?.stop();
});

async function createHook(api: Api, input: Record<string, unknown>) {
  const data = await ok<{ create_cloud_hook: { id: string; signing_secret: string } }>(api, CREATE, {
    input,
  });
  return data.create_cloud_hook;
}

async function setState(api: Api, runId: string, type: string) {
  const data = await ok<{ set_flow_run_states: { states: Array<{ status: string }> } }>(
    api,
    Q.flowRunStates,
    {
      input: {
        states: [{ flow_run_id: runId, version: null, state: state(type, { message: `${type} for test` }) }],
      },
    },
  );
  expect(data.set_flow_run_states.states[0]?.status).toBe("SUCCESS");
}

async function deliveries(api: Api, hookId: string): Promise<Delivery[]> {
  return (await ok<{ cloud_hook_delivery: Delivery[] }>(api, DELIVERIES, { id: hookId })).cloud_hook_delivery;
}

/** Reads a hook's deliveries until `done` holds of them (bounded by the test's timeout). */
async function deliveriesUntil(api: Api, hookId: string, done: (d: Delivery[]) => boolean) {
  for (;;) {
    const found = await deliveries(api, hookId);
    if (done(found)) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function verify(secret: string, header: string | string[] | undefined, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(header));
  if (!match) return false;
  const expected = createHmac("sha256", secret).update(`${match[1]}.${body}`).digest("hex");
  return expected === match[2];
}

describe("cloud hooks", () => {
  it("a run that fails → a signed webhook with the documented body arrives within 2 s", async () => {
    const receiver = await startReceiver();
    try {
      const hook = await createHook(apiA, {
        type: "WEBHOOK",
        name: "failures",
        states: ["Failed"],
        config: { url: receiver.url },
      });
      expect(hook.signing_secret.length).toBeGreaterThanOrEqual(40);
      const runId = await createRun(apiA, { flow_id: flowA, parameters: { n: 1 } });
      await setState(apiA, runId, "Running");
      const changed = Date.now();
      await setState(apiA, runId, "Failed");
      await receiver.next(1);
      const [request] = receiver.received;
      expect(request).toBeDefined();
      expect(request?.at ?? Number.POSITIVE_INFINITY).toBeLessThan(changed + 2000);
      const body = JSON.parse(request?.body ?? "{}");
      expect(body.event).toMatchObject({
        type: "FlowRunStateChange",
        is_test_event: false,
        tenant: { id: tenantA, slug: expect.any(String) },
        flow: { id: flowA, name: "hooks-a", version_group_id: versionGroupA },
        flow_run: { id: runId, flow_id: flowA, state: "Failed" },
        state: { state: "Failed", previous_state: "Running", message: "Failed for test" },
      });
      expect(body.event.state.serialized_state.type).toBe("Failed");
      expect(request?.headers["x-prefect-event-id"]).toBe(body.event.id);
      expect(request?.headers["content-type"]).toBe("application/json");
      expect(verify(hook.signing_secret, request?.headers["x-drover-signature"], request?.body ?? "")).toBe(
        true,
      );
      expect(verify("another secret", request?.headers["x-drover-signature"], request?.body ?? "")).toBe(
        false,
      );

      const [delivery] = await deliveriesUntil(apiA, hook.id, (d) => d[0]?.status === "DELIVERED");
      expect(delivery).toMatchObject({
        event_id: body.event.id,
        event_type: "FlowRunStateChange",
        flow_run_id: runId,
        state: "Failed",
        attempts: 1,
        response_code: 200,
        error: null,
        is_test_event: false,
      });
      expect(receiver.received).toHaveLength(1);
      await ok(apiA, DELETE, { id: hook.id });
    } finally {
      await receiver.close();
    }
  });

  it("a receiver answering 500 three times, then 200, gets the event once in the end, the attempts logged", async () => {
    const receiver = await startReceiver([500, 500, 500, 200]);
    try {
      const hook = await createHook(apiA, {
        type: "WEBHOOK",
        states: ["FAILED"],
        config: { url: receiver.url },
      });
      const runId = await createRun(apiA, { flow_id: flowA, parameters: { n: 1 } });
      await setState(apiA, runId, "Failed");
      const [delivery] = await deliveriesUntil(apiA, hook.id, (d) => d[0]?.status === "DELIVERED");
      expect(delivery?.attempts).toBe(4);
      expect(delivery?.attempt_log.map((a) => a.status_code)).toEqual([500, 500, 500, 200]);
      expect(delivery?.attempt_log.slice(0, 3).map((a) => a.error)).toEqual(
        Array(3).fill("the target answered HTTP 500"),
      );
      expect(receiver.received).toHaveLength(4);
      const ids = new Set(receiver.received.map((r) => JSON.parse(r.body).event.id));
      expect([...ids]).toEqual([delivery?.event_id]);
      // Backoff between attempts: 0.5 s, 1 s, 2 s.
      const gaps = receiver.received.slice(1).map((r, i) => r.at - (receiver.received[i]?.at ?? 0));
      expect(gaps.every((gap, i) => gap >= 500 * 2 ** i - 50)).toBe(true);
      await ok(apiA, DELETE, { id: hook.id });
    } finally {
      await receiver.close();
    }
  });

  it("a hook sees only its own workspace's runs, its flow's when scoped, and nothing while inactive", async () => {
    const [all, scoped, paused, other] = await Promise.all([
      startReceiver(),
      startReceiver(),
      startReceiver(),
      startReceiver(),
    ]);
    try {
      const allHook = await createHook(apiA, {
        type: "WEBHOOK",
        states: ["Success"],
        config: { url: all.url },
      });
      const scopedHook = await createHook(apiA, {
        type: "WEBHOOK",
        states: ["Success"],
        version_group_id: versionGroupA,
        config: { url: scoped.url },
      });
      const pausedHook = await createHook(apiA, {
        type: "WEBHOOK",
        states: ["Success"],
        config: { url: paused.url },
      });
      await ok(apiA, INACTIVE, { id: pausedHook.id });
      const otherHook = await createHook(apiB, {
        type: "WEBHOOK",
        states: ["Success"],
        config: { url: other.url },
      });

      // A's run succeeds: A's hooks see it (not the paused one), B's does not.
      const runA = await createRun(apiA, { flow_id: flowA, parameters: { n: 1 } });
      await setState(apiA, runA, "Success");
      await Promise.all([all.next(1), scoped.next(1)]);
      // B's run succeeds: only B's hook sees it.
      const runB = await createRun(apiB, { flow_id: flowB, parameters: { n: 1 } });
      await setState(apiB, runB, "Success");
      await other.next(1);

      const runsOf = (r: typeof all) => r.received.map((x) => JSON.parse(x.body).event.flow_run.id);
      expect(runsOf(all)).toEqual([runA]);
      expect(runsOf(scoped)).toEqual([runA]);
      expect(runsOf(other)).toEqual([runB]);
      expect(paused.received).toHaveLength(0);
      // A's hooks logged nothing of B's run, B's nothing of A's.
      expect((await deliveries(apiA, allHook.id)).map((d) => d.flow_run_id)).toEqual([runA]);
      expect((await deliveries(apiB, otherHook.id)).map((d) => d.flow_run_id)).toEqual([runB]);
      // Neither workspace can read, pause or delete the other's hook.
      expect(await deliveries(apiB, allHook.id)).toEqual([]);
      expect((await fails(apiB, INACTIVE, { id: allHook.id })).code).toBe("NOT_FOUND");
      expect((await fails(apiB, DELETE, { id: allHook.id })).code).toBe("NOT_FOUND");
      expect((await fails(apiB, TEST, { input: { cloud_hook_id: allHook.id } })).code).toBe("NOT_FOUND");
      const listedB = await ok<{ cloud_hook: Array<{ id: string }> }>(apiB, HOOKS);
      expect(listedB.cloud_hook.map((h) => h.id)).toEqual([otherHook.id]);

      // Active again, the paused hook gets the next change.
      await ok(apiA, ACTIVE, { id: pausedHook.id });
      const runA2 = await createRun(apiA, { flow_id: flowA, parameters: { n: 1 } });
      await setState(apiA, runA2, "Success");
      await paused.next(1);
      expect(runsOf(paused)).toEqual([runA2]);
      for (const id of [allHook.id, scopedHook.id, pausedHook.id]) await ok(apiA, DELETE, { id });
      await ok(apiB, DELETE, { id: otherHook.id });
    } finally {
      await Promise.all([all, scoped, paused, other].map((r) => r.close()));
    }
  });

  it("SLACK_WEBHOOK posts Slack's message blocks, PREFECT_MESSAGE leaves a message to read", async () => {
    const slack = await startReceiver();
    try {
      const slackHook = await createHook(apiA, {
        type: "SLACK_WEBHOOK",
        states: ["Cancelled"],
        config: { url: slack.url },
      });
      const messageHook = await createHook(apiA, { type: "PREFECT_MESSAGE", states: ["Cancelled"] });
      const runId = await createRun(apiA, {
        flow_id: flowA,
        parameters: { n: 1 },
        flow_run_name: "slack-run",
      });
      await setState(apiA, runId, "Cancelled");
      await slack.next(1);
      const body = JSON.parse(slack.received[0]?.body ?? "{}");
      const texts = body.blocks.map((b: { text: { text: string } }) => b.text.text);
      expect(texts[0]).toBe("Run `slack-run` of flow `hooks-a` entered a new state:");
      expect(texts[1]).toBe("*State:* `Cancelled`");
      expect(texts[2]).toBe("*Message:* Cancelled for test");
      expect(texts[3]).toBe(`*Link:* ${runtime.url}/runs/${runId}`);
      await deliveriesUntil(apiA, messageHook.id, (d) => d[0]?.status === "DELIVERED");
      const messages = await ok<{
        message: Array<{ type: string; read: boolean; content: { event: unknown } }>;
      }>(apiA, "query { message { id type read content } }");
      expect(messages.message[0]).toMatchObject({
        type: "CLOUD_HOOK",
        read: false,
        content: { type: "CLOUD_HOOK", event: { flow_run: { id: runId }, state: { state: "Cancelled" } } },
      });
      for (const id of [slackHook.id, messageHook.id]) await ok(apiA, DELETE, { id });
    } finally {
      await slack.close();
    }
  });

  it("test_cloud_hook sends a test event now and says whether the target took it", async () => {
    const good = await startReceiver();
    const bad = await startReceiver([503]);
    try {
      const goodHook = await createHook(apiA, {
        type: "WEBHOOK",
        states: ["Success"],
        config: { url: good.url },
      });
      const badHook = await createHook(apiA, {
        type: "WEBHOOK",
        states: ["Success"],
        config: { url: bad.url },
      });
      const runId = await createRun(apiA, { flow_id: flowA, parameters: { n: 1 } });
      const sent = await ok<{ test_cloud_hook: { success: boolean; error: string | null } }>(apiA, TEST, {
        input: { cloud_hook_id: goodHook.id, flow_run_id: runId, state_type: "FAILED" },
      });
      expect(sent.test_cloud_hook).toEqual({ success: true, error: null });
      const event = JSON.parse(good.received[0]?.body ?? "{}").event;
      expect(event).toMatchObject({
        is_test_event: true,
        flow_run: { id: runId },
        state: { state: "Failed", message: "Test failed state" },
      });
      const refused = await ok<{ test_cloud_hook: { success: boolean; error: string | null } }>(apiA, TEST, {
        input: { cloud_hook_id: badHook.id },
      });
      expect(refused.test_cloud_hook).toEqual({ success: false, error: "the target answered HTTP 503" });
      expect(bad.received).toHaveLength(1);
      const [logged] = await deliveries(apiA, badHook.id);
      expect(logged).toMatchObject({
        is_test_event: true,
        status: "FAILED",
        attempts: 1,
        response_code: 503,
      });
      for (const id of [goodHook.id, badHook.id]) await ok(apiA, DELETE, { id });
    } finally {
      await Promise.all([good.close(), bad.close()]);
    }
  });

  it("refuses bad hooks with a clear error and stores nothing", async () => {
    const before = (await ok<{ cloud_hook: unknown[] }>(apiA, HOOKS)).cloud_hook.length;
    const url = "http://127.0.0.1:9/hook";
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ type: "WEBHOOK", states: [], config: { url } }, "BAD_USER_INPUT", /at least one state/],
      [{ type: "WEBHOOK", states: ["Exploded"], config: { url } }, "BAD_USER_INPUT", /states must be among/],
      [{ type: "WEBHOOK", states: ["Failed"] }, "BAD_USER_INPUT", /expected `url`/],
      [
        { type: "WEBHOOK", states: ["Failed"], config: { url, extra: 1 } },
        "BAD_USER_INPUT",
        /expected `url`/,
      ],
      [
        { type: "WEBHOOK", states: ["Failed"], config: { url: "ftp://x.example/" } },
        "BAD_USER_INPUT",
        /http or https/,
      ],
      [
        { type: "WEBHOOK", states: ["Failed"], config: { url: "not a url" } },
        "BAD_USER_INPUT",
        /not a valid URL/,
      ],
      [
        { type: "WEBHOOK", states: ["Failed"], config: { url: "http://user:pw@127.0.0.1/" } },
        "BAD_USER_INPUT",
        /credentials/,
      ],
      [{ type: "PREFECT_MESSAGE", states: ["Failed"], config: { url } }, "BAD_USER_INPUT", /takes none/],
      [
        { type: "WEBHOOK", states: ["Failed"], config: { url }, version_group_id: "no-such-flow" },
        "BAD_USER_INPUT",
        /no such flow/,
      ],
      [
        { type: "TWILIO", states: ["Failed"], config: { url } },
        "GRAPHQL_VALIDATION_FAILED",
        /cloud_hook_type/,
      ],
    ];
    for (const [input, code, message] of cases) {
      const error = await fails(apiA, CREATE, { input });
      expect(error.code, JSON.stringify(input)).toBe(code);
      expect(error.message).toMatch(message);
    }
    const foreign = await fails(apiA, CREATE, {
      input: {
        tenant_id: "00000000-0000-4000-8000-000000000000",
        type: "WEBHOOK",
        states: ["Failed"],
        config: { url },
      },
    });
    expect(foreign.code).toBe("UNAUTHENTICATED");
    expect((await fails(apiA, DELETE, { id: "00000000-0000-4000-8000-000000000000" })).code).toBe(
      "NOT_FOUND",
    );
    // The signing secret is never readable.
    expect((await fails(apiA, "query { cloud_hook { signing_secret } }")).code).toBe(
      "GRAPHQL_VALIDATION_FAILED",
    );
    expect((await ok<{ cloud_hook: unknown[] }>(apiA, HOOKS)).cloud_hook).toHaveLength(before);
  });

  it("holds at most 100 hooks a workspace, and a deleted one makes room", async () => {
    const existing = (await ok<{ cloud_hook: unknown[] }>(apiA, HOOKS)).cloud_hook.length;
    const input = { type: "PREFECT_MESSAGE", states: ["Looped"] };
    const made: string[] = [];
    for (let i = existing; i < 100; i++) made.push((await createHook(apiA, input)).id);
    const full = await fails(apiA, CREATE, { input });
    expect(full.code).toBe("LIMIT_EXCEEDED");
    expect(full.message).toMatch(/100 cloud hooks, the most it may/);
    expect((await ok<{ cloud_hook: unknown[] }>(apiA, HOOKS)).cloud_hook).toHaveLength(100);
    await ok(apiA, DELETE, { id: made.pop() });
    made.push((await createHook(apiA, input)).id);
    for (const id of made) await ok(apiA, DELETE, { id });
    expect((await ok<{ cloud_hook: unknown[] }>(apiA, HOOKS)).cloud_hook).toHaveLength(existing);
  });

  it("gives up on an attempt at the timeout: a receiver that never answers fails the test in time", async () => {
    const silent = createServer(() => {
      // Never answers.
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hook`;
      const hook = await createHook(apiA, { type: "WEBHOOK", states: ["Looped"], config: { url } });
      const started = Date.now();
      const sent = await ok<{ test_cloud_hook: { success: boolean; error: string | null } }>(apiA, TEST, {
        input: { cloud_hook_id: hook.id },
      });
      const took = Date.now() - started;
      expect(sent.test_cloud_hook).toEqual({
        success: false,
        error: `no answer within ${HOOK_TIMEOUT_MS} ms`,
      });
      expect(took).toBeGreaterThanOrEqual(HOOK_TIMEOUT_MS - 50);
      expect(took).toBeLessThan(HOOK_TIMEOUT_MS + 3000);
      const [logged] = await deliveries(apiA, hook.id);
      expect(logged).toMatchObject({
        status: "FAILED",
        response_code: null,
        error: `no answer within ${HOOK_TIMEOUT_MS} ms`,
      });
      await ok(apiA, DELETE, { id: hook.id });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("keeps a failing delivery PENDING for the queue's next receive, and FAILED on its last, the message left for the DLQ", async () => {
    const receiver = await startReceiver([503]);
    try {
      const hook = await createHook(apiA, {
        type: "WEBHOOK",
        states: ["TimedOut"],
        config: { url: receiver.url },
      });
      const runId = await createRun(apiA, { flow_id: flowA, parameters: { n: 1 } });
      const run = await ok<{ flow_run_by_pk: Record<string, unknown> }>(
        apiA,
        `{ flow_run_by_pk(id: "${runId}") { id name flow_id version } }`,
      );
      const group = await ok<{ flow_by_pk: { flow_group_id: string; project_id: string } }>(
        apiA,
        `{ flow_by_pk(id: "${flowA}") { flow_group_id project_id } }`,
      );
      // The hooks function handed the queue's message as Lambda would: a change no write made, so
      // that only this call delivers it.
      const detail = {
        id: "9d9d9d9d-0000-4000-8000-000000000001",
        type: "FlowRunStateChange",
        timestamp: new Date().toISOString(),
        tenant_id: tenantA,
        flow_run: {
          id: runId,
          name: run.flow_run_by_pk.name,
          flow_id: flowA,
          flow_group_id: group.flow_by_pk.flow_group_id,
          project_id: group.flow_by_pk.project_id,
          labels: [],
          scheduled_start_time: null,
          start_time: null,
          end_time: null,
          agent_id: null,
        },
        state: {
          previous: "Running",
          state: "TimedOut",
          message: "slow",
          version: 9,
          timestamp: new Date().toISOString(),
          serialized_state: { type: "TimedOut" },
        },
      };
      const message = (receives: number) => ({
        Records: [
          {
            messageId: `m-${receives}`,
            receiptHandle: "r",
            body: JSON.stringify({
              version: "0",
              id: "e",
              "detail-type": "FlowRunStateChange",
              source: "drover",
              detail,
            }),
            attributes: {
              ApproximateReceiveCount: String(receives),
              SentTimestamp: "0",
              SenderId: "test",
              ApproximateFirstReceiveTimestamp: "0",
            },
            messageAttributes: {},
            md5OfBody: "",
            eventSource: "aws:sqs",
            eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:hooks",
            awsRegion: "us-east-1",
          },
        ],
      });
      const first = await hooksHandler(message(1));
      expect(first.batchItemFailures).toEqual([{ itemIdentifier: "m-1" }]);
      expect((await deliveries(apiA, hook.id))[0]).toMatchObject({
        status: "PENDING",
        attempts: 4,
        response_code: 503,
      });
      const last = await hooksHandler(message(HOOKS_MAX_RECEIVES));
      expect(last.batchItemFailures).toEqual([{ itemIdentifier: `m-${HOOKS_MAX_RECEIVES}` }]);
      expect((await deliveries(apiA, hook.id))[0]).toMatchObject({ status: "FAILED", attempts: 8 });
      // Once FAILED, a redelivery calls nobody.
      const calls = receiver.received.length;
      await hooksHandler(message(HOOKS_MAX_RECEIVES + 1));
      expect(receiver.received).toHaveLength(calls);
      expect(calls).toBe(8);
      await ok(apiA, DELETE, { id: hook.id });
    } finally {
      await receiver.close();
    }
  });
});
