import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { type LocalRuntime, startLocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  registerFlow,
} from "../helpers/orchestration.js";
import { uniquePrefix } from "../helpers/runtime.js";

/**
 * No tenant can stall another: query shape limits (depth, aliases, tokens, directives, cost) on
 * both request paths, the read engine's per-request budget, linear `_like`, and per-workspace
 * request and log-line rate limits (HTTP 429, Retry-After, RATE_LIMITED) while another
 * workspace's reads keep succeeding. Behaviour only: timings are the benchmark's (bench/noisy.ts).
 */
let runtime: LocalRuntime;
let owner: Api;
let ownerKey: string;
let flooderKey: string;
let runId = "";

const LIMITS = {
  DROVER_RATE_LIMIT_RPS: "20",
  DROVER_RATE_LIMIT_BURST: "100",
  DROVER_LOG_LINES_PER_SECOND: "10",
  DROVER_LOG_LINES_BURST: "100",
  DROVER_MAX_READS_PER_REQUEST: "300",
  DROVER_READ_UNITS_PER_SECOND: "100",
  DROVER_READ_UNITS_BURST: "1000",
};

beforeAll(async () => {
  runtime = await startLocalRuntime({
    host: "127.0.0.1",
    port: 0,
    dataDir: undefined,
    dynamoEndpoint: inject("dynamoEndpoint"),
    namePrefix: uniquePrefix("noisy"),
    schedulerIntervalMs: 60_000,
    env: { ...process.env, ...LIMITS },
  });
  ownerKey = runtime.bootstrap.secret ?? "";
  owner = prefectClient(runtime, ownerKey, runtime.bootstrap.workspace.id);
  const other = await Workspace.create({ name: "Flooder" });
  flooderKey = (await asTenant(other.id, () => ApiKey.create({ name: "flood" }))).secret;

  const flow = await registerFlow(owner, await createProject(owner, "p"), pipelineFlow("fan"));
  runId = await createRun(owner, { flow_id: flow, parameters: { n: 1 }, flow_run_name: "a".repeat(64) });
});

/**
 * A workspace of its own with one run: rate-limit and read-budget tests must not share buckets,
 * which other tests of this file spend (the request flood, the wide reads).
 */
async function workspaceWithRun(
  name: string,
  runName?: string,
): Promise<{ api: Api; key: string; runId: string }> {
  const space = await Workspace.create({ name });
  const key = (await asTenant(space.id, () => ApiKey.create({ name: "k" }))).secret;
  const api = prefectClient(runtime, key, space.id);
  const flow = await registerFlow(api, await createProject(api, "p"), pipelineFlow(name.toLowerCase()));
  const run = await createRun(api, {
    flow_id: flow,
    parameters: { n: 1 },
    ...(runName ? { flow_run_name: runName } : {}),
  });
  return { api, key, runId: run };
}

afterAll(async () => {
  await runtime?.stop();
});

/** Posts through yoga's own path (a body with `extensions` skips the handler's fast path). */
async function viaYoga(query: string, key = ownerKey) {
  const response = await fetch(runtime.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables: {}, extensions: {} }),
  });
  const body = (await response.json()) as {
    data?: unknown;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
  return { status: response.status, body };
}

function nest(depth: number): string {
  // flow_run_by_pk → task_runs → flow_run → … → id: `depth` levels as graphql-armor counts them.
  let inner = "id";
  for (let level = depth - 2; level >= 1; level--)
    inner = `${level % 2 === 1 ? "task_runs" : "flow_run"} { ${inner} }`;
  return `query { flow_run_by_pk(id: "${runId}") { ${inner} } }`;
}

describe("query shape limits, on the fast path and on yoga's path", () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ["a depth-12 fan-out", () => nest(12), /depth limit of 8 exceeded/],
    [
      "1,000 aliases of __schema",
      () =>
        `query { ${Array.from({ length: 1000 }, (_, i) => `s${i}: __schema { queryType { name } }`).join(" ")} }`,
      /Token limit of 5000 exceeded/,
    ],
    [
      "16 aliases of __schema",
      () =>
        `query { ${Array.from({ length: 16 }, (_, i) => `s${i}: __schema { queryType { name } }`).join(" ")} }`,
      /Aliases limit of 15 exceeded/,
    ],
    [
      "a selection nested 3,000 deep",
      () => `query { ${"flow_run { ".repeat(3000)}id${" }".repeat(3000)} }`,
      /Nesting limit of 64 exceeded/,
    ],
    [
      "a where-clause nested 100 deep",
      () => `query { flow_run(where: ${"{ _not: ".repeat(100)}{}${" }".repeat(100)}) { id } }`,
      /Nesting limit of 64 exceeded/,
    ],
    [
      "50 directives",
      () =>
        `query { auth_info { ${Array.from({ length: 50 }, () => "tenant_id @include(if: true)").join(" ")} } }`,
      /Directives limit of 20 exceeded/,
    ],
    [
      "a query costing more than 3000",
      () =>
        `query { flow_run { flow { project { flows { flow_runs { task_runs { ${"id ".repeat(300)}} } } } } } }`,
      /Query Cost limit of 3000 exceeded/,
    ],
  ];

  it.each(cases)("refuses %s with QUERY_TOO_COMPLEX naming the limit", async (_name, query, message) => {
    const fast = await owner(query());
    expect(fast.errors?.[0]?.extensions?.code, JSON.stringify(fast.errors)).toBe("QUERY_TOO_COMPLEX");
    expect(fast.errors?.[0]?.message).toMatch(message);
    expect(fast.data ?? null).toBeNull();
    const yoga = await viaYoga(query());
    expect(yoga.body.errors?.[0]?.extensions?.code, JSON.stringify(yoga.body.errors)).toBe(
      "QUERY_TOO_COMPLEX",
    );
    expect(yoga.body.errors?.[0]?.message).toMatch(message);
  });

  it("allows one introspection and the flow runner's own read", async () => {
    const schema = await ok<{ __schema: { types: unknown[] } }>(
      owner,
      "query { __schema { types { name } } }",
    );
    expect(schema.__schema.types.length).toBeGreaterThan(50);
    const yoga = await viaYoga("query { __schema { queryType { name } } }");
    expect(yoga.body.errors).toBeUndefined();
    await ok(
      owner,
      `query { flow_run_by_pk(id: "${runId}") { task_runs { flow_run { flow { project { flows { tasks { slug } } } } } } } }`,
    );
    // The standard introspection query (GraphiQL's, the client's) is deeper than 8: depth skips __schema.
    const { getIntrospectionQuery } = await import("graphql");
    await ok(owner, getIntrospectionQuery());
  });
});

describe("introspection policy", () => {
  it("answers an anonymous __schema or __type with UNAUTHENTICATED, on both paths, and __typename still works", async () => {
    const anonymous = async (query: string, extensions?: object) => {
      const response = await fetch(runtime.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, ...(extensions ? { extensions } : {}) }),
      });
      return (await response.json()) as {
        data?: unknown;
        errors?: Array<{ extensions?: { code?: string } }>;
      };
    };
    for (const extensions of [undefined, {}]) {
      const schema = await anonymous("{ __schema { queryType { name } } }", extensions);
      expect(schema.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      expect(schema.data ?? null).toBeNull();
      const type = await anonymous('{ __type(name: "flow_run") { name } }', extensions);
      expect(type.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    }
    expect(await anonymous("{ __typename }")).toEqual({ data: { __typename: "Query" } });
    const keyed = await ok<{ __type: { name: string } }>(owner, '{ __type(name: "flow_run") { name } }');
    expect(keyed.__type.name).toBe("flow_run");
  });
});

describe("the read engine's per-request budget", () => {
  it("reads a list's object relationships in one batch per level, so 35 task runs with task and run fit in 300 units", async () => {
    // One GetItem per row would be 10 + 35 + 2 × 35 × 11 = 815 units; batched it is about 100.
    const { api } = await workspaceWithRun("Wide");
    const project = await createProject(api, "wide");
    const flow = await registerFlow(api, project, pipelineFlow("wide", { extraTasks: 30 }));
    const run = await createRun(api, { flow_id: flow, parameters: { n: 1 } });
    const read = await ok<{
      flow_run_by_pk: { task_runs: Array<{ task: { slug: string }; flow_run: { id: string } }> };
    }>(api, `query { flow_run_by_pk(id: "${run}") { task_runs { task { slug } flow_run { id } } } }`);
    const rows = read.flow_run_by_pk.task_runs;
    expect(rows.length).toBe(35);
    expect(new Set(rows.map((r) => r.task.slug)).size).toBe(35);
    expect(rows.every((r) => r.flow_run.id === run)).toBe(true);
  });

  it("reads a cyclic fan-out's repeated relationships once per query: 5^3 runs at depth 8 within 300 units", async () => {
    // 5 task runs, each back to its run and out to its 5 task runs again: read per parent, that
    // is 1 + 5 + 25 lists and batches (over 300 units); read once per distinct list, 3.
    const { api, runId } = await workspaceWithRun("Cyclic");
    const cyclic = await ok<{
      flow_run_by_pk: {
        task_runs: Array<{
          flow_run: { task_runs: Array<{ flow_run: { task_runs: Array<{ flow_run: { id: string } }> } }> };
        }>;
      };
    }>(
      api,
      `query { flow_run_by_pk(id: "${runId}") { task_runs { flow_run { task_runs { flow_run { task_runs { flow_run { id } } } } } } } }`,
    );
    const leaves = cyclic.flow_run_by_pk.task_runs.flatMap((a) =>
      a.flow_run.task_runs.flatMap((b) => b.flow_run.task_runs.map((c) => c.flow_run.id)),
    );
    expect(leaves.length).toBe(125);
    expect(leaves.every((id) => id === runId)).toBe(true);
  });

  it("refuses a fan-out within the depth limit that reads more than the budget, and serves a narrow one", async () => {
    // 35 task runs, each with its own states and logs: 70 distinct lists, 10 units each, over 300.
    const { api } = await workspaceWithRun("Budget");
    const flow = await registerFlow(
      api,
      await createProject(api, "budget"),
      pipelineFlow("budget", { extraTasks: 30 }),
    );
    const run = await createRun(api, { flow_id: flow, parameters: { n: 1 } });
    const wide = await fails(
      api,
      `query { flow_run_by_pk(id: "${run}") { task_runs { states { id } logs { id } } } }`,
    );
    expect(wide.code).toBe("QUERY_TOO_COMPLEX");
    expect(wide.message).toMatch(/reads more than 300 items/);
    const narrow = await ok<{ flow_run_by_pk: { task_runs: unknown[] } }>(
      api,
      `query { flow_run_by_pk(id: "${run}") { task_runs { id task { slug } } } }`,
    );
    expect(narrow.flow_run_by_pk.task_runs.length).toBe(35);
  });
});

describe("_like", () => {
  it("answers the pathological pattern (linear matcher), with the right rows", async () => {
    const { api, runId } = await workspaceWithRun("Like", "a".repeat(64));
    const none = await ok<{ flow_run: unknown[] }>(
      api,
      `query { flow_run(where: { name: { _like: "%a%a%a%a%a%a%a%b" } }) { id } }`,
    );
    expect(none.flow_run).toEqual([]);
    const hit = await ok<{ flow_run: Array<{ id: string }> }>(
      api,
      `query { flow_run(where: { name: { _ilike: "%A%A%A%A%A%A%A%a" } }) { id } }`,
    );
    expect(hit.flow_run.map((r) => r.id)).toEqual([runId]);
  });
});

describe("per-workspace rate limits", () => {
  it("answers a flooding workspace with 429, Retry-After and RATE_LIMITED while another's reads succeed", async () => {
    const flood = Array.from({ length: 300 }, () =>
      fetch(runtime.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${flooderKey}` },
        body: JSON.stringify({ query: "{ auth_info { tenant_id } }" }),
      }),
    );
    const reads = Array.from({ length: 20 }, () =>
      owner<{ flow_run_by_pk: { id: string } }>(`query { flow_run_by_pk(id: "${runId}") { id } }`),
    );
    const started = Date.now();
    const [flooded, read] = await Promise.all([Promise.all(flood), Promise.all(reads)]);
    const seconds = (Date.now() - started) / 1000;
    for (const r of read) {
      expect(r.status).toBe(200);
      expect(r.errors).toBeUndefined();
      expect(r.data?.flow_run_by_pk.id).toBe(runId);
    }
    const refused = flooded.filter((r) => r.status === 429);
    const admitted = flooded.filter((r) => r.status === 200).length;
    // The burst, plus what the bucket refilled (20/s) while the flood lasted.
    expect(admitted).toBeGreaterThanOrEqual(100);
    expect(admitted).toBeLessThanOrEqual(100 + Math.ceil(20 * seconds) + 1);
    expect(refused.length).toBe(300 - admitted);
    expect(refused.length).toBeGreaterThan(0);
    const first = refused[0] as Response;
    expect(Number(first.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Every request of the workspace is refused for that long (one token at 20/s: at most 50 ms),
    // so the local HTTP server refuses it at the door without reading it.
    const throttledMs = Number(first.headers.get("x-drover-throttled-ms"));
    expect(throttledMs).toBeGreaterThan(0);
    expect(throttledMs).toBeLessThanOrEqual(50);
    const body = (await first.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors[0]?.extensions.code).toBe("RATE_LIMITED");
    expect(body.errors[0]?.message).toMatch(/more than 20 requests per second/);
  });

  it("refuses a workspace's log lines beyond its budget as a whole batch, with 429, and not another's", async () => {
    const WRITE = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }";
    const lines = (flowRunId: string, n: number) => ({
      input: {
        logs: Array.from({ length: n }, (_, i) => ({ flow_run_id: flowRunId, message: `line ${i}` })),
      },
    });
    const writer = await workspaceWithRun("Writer");
    await ok(writer.api, WRITE, lines(writer.runId, 100));
    const refused = await writer.api(WRITE, lines(writer.runId, 50));
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    expect(refused.errors?.[0]?.message).toMatch(/10 log lines per second/);
    await ok(owner, WRITE, lines(runId, 50));
    // Only its log writes wait: the refusal holds nothing at the door, and its other requests pass.
    const again = await fetch(runtime.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${writer.key}` },
      body: JSON.stringify({ query: WRITE, variables: JSON.stringify(lines(writer.runId, 50)) }),
    });
    expect(again.status).toBe(429);
    expect(again.headers.get("x-drover-throttled-ms")).toBeNull();
    await ok(writer.api, "{ auth_info { tenant_id } }");
  });

  it("refuses an over-budget batch before coercing it: RATE_LIMITED, not its lines' type errors, on both paths", async () => {
    const WRITE = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }";
    const writer = await workspaceWithRun("Spender");
    const full = Array.from({ length: 100 }, (_, i) => ({ flow_run_id: writer.runId, message: `line ${i}` }));
    await ok(writer.api, WRITE, { input: { logs: full } });
    // Lines coercion would refuse (a number where a string goes): refused for the budget first.
    const badLines = await writer.api(WRITE, { input: { logs: [{ flow_run_id: 5, message: 6 }] } });
    expect(badLines.status).toBe(429);
    expect(badLines.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    // A literal batch, aliased twice, through yoga's own path.
    const literal = `mutation { a: write_run_logs(input: { logs: [{ flow_run_id: "${writer.runId}", message: "x" }] }) { success } b: write_run_logs(input: { logs: { flow_run_id: "${writer.runId}" } }) { success } }`;
    const response = await fetch(runtime.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${writer.key}` },
      body: JSON.stringify({ query: literal, variables: {}, extensions: {} }),
    });
    const body = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(body.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
  });

  it("refuses a workspace whose queries read more than its units per second, and not another", async () => {
    // About 120 units each (11 storage calls: the run, its 5 task runs, their states and logs): the 1,000-unit burst lasts several of them, then the
    // workspace owes more than the 100 units/s refill pays back.
    // A workspace of its own: the flooder's request bucket is spent by the tests before this one.
    const { api: readerApi, runId: readerRunId } = await workspaceWithRun("Reader");
    const query = `query { flow_run_by_pk(id: "${readerRunId}") { task_runs { states { id } logs { id } } } }`;
    const answers: Array<{ status: number; code: string | undefined; message: string | undefined }> = [];
    for (let i = 0; i < 20; i++) {
      const res = await readerApi(query);
      answers.push({
        status: res.status,
        code: res.errors?.[0]?.extensions?.code,
        message: res.errors?.[0]?.message,
      });
    }
    const served = answers.filter((a) => a.status === 200 && a.code === undefined).length;
    expect(served).toBeGreaterThanOrEqual(3);
    // The burst is spent first: every refusal comes after the served ones began.
    expect(answers[0]?.status).toBe(200);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length + served).toBe(20);
    expect(refused[0]?.code).toBe("RATE_LIMITED");
    expect(refused[0]?.message).toMatch(/read more than 100 units per second/);
    await ok(owner, `query { flow_run_by_pk(id: "${runId}") { id task_runs { id } } }`);
  });
});
