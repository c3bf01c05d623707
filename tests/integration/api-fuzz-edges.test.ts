import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  compress,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Each kind of value DynamoDB cannot hold, at each edge where it was once acknowledged or failed
 * as INTERNAL_SERVER_ERROR: refused with BAD_USER_INPUT naming the field and the path in it, and
 * nothing of the request stored.
 */
let runtime: LocalRuntime;
let api: Api;
let flowId: string;
let flowRunId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("edges");
  api = client(runtime, runtime.bootstrap.secret);
  const projectId = await createProject(api, "edges");
  flowId = await registerFlow(api, projectId, pipelineFlow("edged"));
  flowRunId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
}, 120_000);
afterAll(async () => {
  await runtime?.stop();
});

/** A raw POST: the body text is sent as written (2^53+1 stays a number literal). */
async function raw(body: string) {
  const response = await fetch(runtime.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${runtime.bootstrap.secret}` },
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    text,
    body: JSON.parse(text) as { errors?: Array<{ message: string; extensions?: { code?: string } }> },
  };
}

const WRITE_LOGS = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }";

async function logMessages(): Promise<string[]> {
  const read = await ok<{ flow_run_by_pk: { logs: Array<{ message: string }> } }>(
    api,
    `{ flow_run_by_pk(id: "${flowRunId}") { logs { message } } }`,
  );
  return read.flow_run_by_pk.logs.map((l) => l.message);
}

describe("a write_run_logs batch with one unstorable info", () => {
  it("is refused as a whole, naming the record and the path, and none of its lines is stored", async () => {
    const good = { flow_run_id: flowRunId, message: "good line of a refused batch", info: { a: 1 } };
    const cases: Array<[string, string]> = [
      ['{"a": 9007199254740993}', "logs[1].info.a: number 9007199254740992 is outside"],
      ['{"a": [1e300]}', "logs[1].info.a[0]: number 1e+300 is outside"],
      ['{"": 1}', "logs[1].info: an object key is empty"],
      [`${'{"a":'.repeat(40)}1${"}".repeat(40)}`, "nested deeper than 31 levels"],
      [`${"[".repeat(5_000)}1${"]".repeat(5_000)}`, "nested deeper than 64 levels"],
    ];
    for (const [info, expected] of cases) {
      const body = `{"query": ${JSON.stringify(WRITE_LOGS)}, "variables": {"input": {"logs": [${JSON.stringify(good)}, {"flow_run_id": "${flowRunId}", "message": "bad", "info": ${info}}]}}}`;
      const answer = await raw(body);
      expect(answer.body.errors?.[0]?.extensions?.code, answer.text.slice(0, 300)).toBe("BAD_USER_INPUT");
      expect(answer.body.errors?.[0]?.message).toContain(expected);
    }
    // A later good batch is stored; by then the refused ones would have been too.
    await ok(api, WRITE_LOGS, { input: { logs: [{ flow_run_id: flowRunId, message: "marker" }] } });
    const deadline = Date.now() + 15_000;
    let messages = await logMessages();
    while (!messages.includes("marker") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      messages = await logMessages();
    }
    expect(messages).toContain("marker");
    expect(messages).not.toContain("good line of a refused batch");
    expect(messages).not.toContain("bad");
  });
});

describe("unstorable JSON in runs, states, flow groups, flows and agents", () => {
  it("create_flow_run refuses parameters and context DynamoDB cannot hold, and creates no run", async () => {
    const runsBefore = await ok<{ flow_run: unknown[] }>(api, "{ flow_run { id } }");
    const parameters = await fails(api, Q.createRun, {
      input: { flow_id: flowId, parameters: { n: 1e300 } },
    });
    expect(parameters).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(parameters.message).toMatch(/^parameters\.n: number 1e\+300 is outside what can be stored/);
    const context = await fails(api, Q.createRun, {
      input: { flow_id: flowId, parameters: { n: 1 }, context: { deep: { "": true } } },
    });
    expect(context.message).toBe("context.deep: an object key is empty (cannot be stored)");
    expect((await ok<{ flow_run: unknown[] }>(api, "{ flow_run { id } }")).flow_run).toHaveLength(
      runsBefore.flow_run.length,
    );
  });

  it("set_flow_run_states refuses a state nested past what the run's history can hold, and the run keeps its version", async () => {
    const read = `{ flow_run_by_pk(id: "${flowRunId}") { version state } }`;
    const before = await ok(api, read);
    let deep: unknown = 1;
    for (let i = 0; i < 30; i++) deep = { a: deep };
    const refused = await fails(api, Q.flowRunStates, {
      input: { states: [{ flow_run_id: flowRunId, state: state("Submitted", { context: deep }) }] },
    });
    expect(refused.code).toBe("BAD_USER_INPUT");
    expect(refused.message).toMatch(/^Invalid state: context(\.a)+: nested deeper than 29 levels/);
    expect(await ok(api, read)).toEqual(before);
  });

  it("flow group fields name the path of what cannot be stored", async () => {
    const group = await ok<{ flow_by_pk: { flow_group_id: string } }>(
      api,
      `{ flow_by_pk(id: "${flowId}") { flow_group_id } }`,
    );
    const id = group.flow_by_pk.flow_group_id;
    const refused = await fails(
      api,
      "mutation($input: set_flow_group_default_parameters_input!) { set_flow_group_default_parameters(input: $input) { success } }",
      { input: { flow_group_id: id, parameters: { n: [1, 2, 1e-200] } } },
    );
    expect(refused).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(refused.message).toMatch(/^parameters\.n\[2\]: number 1e-200 is outside what can be stored/);
    const after = await ok<{ flow_group_by_pk: { default_parameters: unknown } }>(
      api,
      `{ flow_group_by_pk(id: "${id}") { default_parameters } }`,
    );
    expect(after.flow_group_by_pk.default_parameters).toBeNull();
  });

  it("registration refuses a flow whose parameter default cannot be stored before writing anything", async () => {
    const projectId = await createProject(api, "edges-register");
    const flow = pipelineFlow("unstorable");
    (flow.parameters[0] as Record<string, unknown>).default = { big: 1e300 };
    const refused = await fails(api, Q.registerFlow, {
      input: { project_id: projectId, serialized_flow: compress(flow) },
    });
    expect(refused.code).toBe("BAD_USER_INPUT");
    expect(refused.message).toContain("parameters[0].default.big: number 1e+300 is outside");
    const groups = await ok<{ flow_group: Array<{ name: string }> }>(api, "{ flow_group { name } }");
    expect(groups.flow_group.map((g) => g.name)).not.toContain("unstorable");
  });

  it("register_agent refuses an agent_config_id longer than 255 characters", async () => {
    const refused = await fails(api, Q.registerAgent, {
      input: { type: "LocalAgent", name: "a", agent_config_id: "x".repeat(10_000) },
    });
    expect(refused.code).toBe("BAD_USER_INPUT");
    expect(refused.message).toMatch(/^agent_config_id: /);
  });
});

describe("key-value values nested 5,000 deep", () => {
  it("are refused over GraphQL and REST with BAD_USER_INPUT, not a stack overflow", async () => {
    const deep = `${"[".repeat(5_000)}1${"]".repeat(5_000)}`;
    const graphql = await raw(
      `{"query": "mutation($input: set_key_value_input!) { set_key_value(input: $input) { id } }", "variables": {"input": {"key": "deep", "value": ${deep}}}}`,
    );
    expect(graphql.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(graphql.body.errors?.[0]?.message).toMatch(/nested deeper than 64 levels/);
    const rest = await fetch(`${runtime.url}/kv/deep`, {
      method: "PUT",
      headers: { authorization: `Bearer ${runtime.bootstrap.secret}`, "content-type": "application/json" },
      body: `{"value": ${deep}}`,
    });
    expect(rest.status).toBe(400);
    expect(await rest.json()).toMatchObject({ error: { code: "BAD_USER_INPUT" } });
    const read = await fetch(`${runtime.url}/kv/deep`, {
      headers: { authorization: `Bearer ${runtime.bootstrap.secret}` },
    });
    expect(read.status).toBe(404);
  });

  it("REST answers every malformed request with a 4xx and a code, never a 500", async () => {
    const auth = { authorization: `Bearer ${runtime.bootstrap.secret}` };
    const requests: Array<[string, string, string | undefined]> = [
      ["PUT", "a", '{"value": 1, "expected_version": 1e300}'],
      ["PUT", "a", '{"value": 1, "expected_version": 9007199254740993}'],
      ["PUT", "a", '{"value": 1, "expected_version": -1}'],
      ["PUT", "a", '{"value": 1e999}'],
      ["PUT", "a", "[]"],
      ["PUT", "a", "null"],
      ["PUT", "a", "{not json"],
      ["PUT", "a", `{"value": "${"x".repeat(20_000)}"}`],
      ["PUT", encodeURIComponent("é".repeat(2_000)), '{"value": 1}'],
      ["GET", `?prefix=${encodeURIComponent("é".repeat(1_000))}`, undefined],
      ["GET", "?limit=99999999999999999999&offset=99999999999999999999", undefined],
      ["GET", "?limit=-1", undefined],
      ["DELETE", "%E0%A4%A", undefined],
      ["POST", "a", '{"value": 1}'],
    ];
    for (const [method, path, body] of requests) {
      const response = await fetch(`${runtime.url}/kv/${path}`, {
        method,
        headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      expect(
        response.status,
        `${method} ${path.slice(0, 40)} ${body?.slice(0, 60)} → ${text.slice(0, 200)}`,
      ).toBeLessThan(500);
      if (response.status >= 400)
        expect(JSON.parse(text)).toMatchObject({ error: { code: expect.any(String) } });
    }
    const read = await fetch(`${runtime.url}/kv/a`, { headers: auth });
    expect(read.status).toBe(404);
  });
});
