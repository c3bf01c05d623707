import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  createProject,
  createRun,
  ok,
  pipelineFlow,
  prefectClient,
  registerFlow,
} from "../helpers/orchestration.js";
import { parseGraphql, withArgs } from "../helpers/prefect-graphql.js";
import { RECORDED_TENANT_ID, type RecordedRequest, recordedRequests } from "../helpers/recorded.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Replays, over HTTP and as sent (headers, query text, variables as a JSON string), every request
 * the real Prefect 1.4.1 client made in a complete run, in order, and checks each response has the
 * shape the client reads. Ids in the recording are mapped to ours: from earlier responses where
 * the recording has them, else (the recording keeps only distinct requests) to the entity the
 * recorded run was using at that point, created on demand.
 */
const KV_FIELDS = new Set(["set_key_value", "key_value", "delete_key_value"]); // replayed in kv.test.ts

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const UUID_ONLY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Flows and runs the recorded run used without a request we can map them from (by recorded id). */
const RECORDED_FLOW_NAMES: Record<string, string> = {
  "7e1e7ed9-73e7-4472-b7a0-9a4ae976db35": "retry-flow",
  "774319e1-54a5-415b-ba7c-645f9da561e4": "fail-flow",
};
const RECORDED_RUN_FLOWS: Record<string, string> = {
  d5793dc3: "fail-flow",
  ee50cb77: "hello-flow",
};

const SYNTHETIC_FLOWS: Record<string, { name: string; tasks: Array<{ slug: string; max_retries: number }> }> =
  {
    "retry-flow": { name: "retry-flow", tasks: [{ slug: "fails-once-1", max_retries: 2 }] },
    "fail-flow": { name: "fail-flow", tasks: [{ slug: "always-fails-1", max_retries: 0 }] },
  };

let runtime: LocalRuntime;
let key: string;
let tenantId: string;

beforeAll(async () => {
  // With events on, as `npm start` runs: the recorded session meets the stream and its consumers too.
  runtime = await startTestRuntime("contract", { events: true });
  key = runtime.bootstrap.secret ?? "";
  tenantId = runtime.bootstrap.workspace.id;
});
afterAll(async () => {
  await runtime?.stop();
});

type Kind = "project" | "flow" | "flow_run" | "task_run" | "task" | "agent";

/** Maps the recording's ids to this run's ids, following the entities the recorded client was using. */
class IdMapper {
  readonly map = new Map<string, string>([[RECORDED_TENANT_ID, ""]]);
  private readonly pools: Record<Kind, string[]> = {
    project: [],
    flow: [],
    flow_run: [],
    task_run: [],
    task: [],
    agent: [],
  };
  private readonly used = new Set<string>();
  currentProject = "";
  currentFlowRun = "";
  private readonly api: ReturnType<typeof client>;

  constructor(api: ReturnType<typeof client>, tenant: string) {
    this.api = api;
    this.map.set(RECORDED_TENANT_ID, tenant);
  }

  readonly agents = new Set<string>();

  offer(kind: Kind, id: string) {
    if (kind === "agent") this.agents.add(id);
    if (!this.used.has(id) && !this.pools[kind].includes(id)) this.pools[kind].push(id);
  }

  private take(kind: Kind): string | undefined {
    const id = this.pools[kind].shift();
    if (id) this.used.add(id);
    return id;
  }

  async resolve(recorded: string, kind: Kind): Promise<string> {
    const actual = this.map.get(recorded) ?? this.take(kind) ?? (await this.create(recorded, kind));
    this.used.add(actual);
    this.map.set(recorded, actual);
    if (kind === "flow_run" && actual !== this.currentFlowRun) {
      // Task runs offered by earlier responses belong to the previous run.
      this.currentFlowRun = actual;
      this.pools.task_run = [];
      this.pools.task = [];
    }
    return actual;
  }

  private async create(recorded: string, kind: Kind): Promise<string> {
    switch (kind) {
      case "project": {
        const res = await this.api<{ create_project: { id: string } }>(
          "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
          { input: { name: `contract-${recorded.slice(0, 8)}` } },
        );
        return expectData(res).create_project.id;
      }
      case "flow":
        return this.flowNamed(RECORDED_FLOW_NAMES[recorded] ?? "hello-flow");
      case "flow_run": {
        const flowId = await this.flowNamed(RECORDED_RUN_FLOWS[recorded.slice(0, 8)] ?? "hello-flow");
        const res = await this.api<{ create_flow_run: { id: string } }>(
          "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
          { input: { flow_id: flowId } },
        );
        return expectData(res).create_flow_run.id;
      }
      case "agent": {
        // The same agent restarted: registering again gives the same id here (same type, name and labels).
        const agent = [...this.map.entries()].find(([, v]) => this.agents.has(v))?.[1];
        if (!agent) throw new Error(`agent ${recorded} was never registered in the replay`);
        return agent;
      }
      case "task_run":
      case "task": {
        // The next pre-created task run (or its task) of the run the recorded client was working on.
        const res = await this.api<{ flow_run_by_pk: { task_runs: Array<{ id: string; task_id: string }> } }>(
          `query { flow_run_by_pk(id: "${this.currentFlowRun}") { task_runs(where: {map_index: {_eq: -1}}, order_by: {created: asc}) { id task_id } } }`,
        );
        const candidates = expectData(res).flow_run_by_pk.task_runs.map((r) =>
          kind === "task" ? r.task_id : r.id,
        );
        const next = candidates.find((id) => !this.used.has(id));
        if (!next) throw new Error(`no unused ${kind} left in flow run ${this.currentFlowRun}`);
        return next;
      }
    }
  }

  /** The latest unarchived flow with this name, registering a stand-in if the recording never showed it. */
  private async flowNamed(name: string): Promise<string> {
    const found = await this.api<{ flow: Array<{ id: string }> }>(
      `query { flow(where: {name: {_eq: "${name}"}, archived: {_eq: false}}, order_by: {created: desc}, limit: 1) { id } }`,
    );
    const existing = expectData(found).flow[0]?.id;
    if (existing) return existing;
    const flow = SYNTHETIC_FLOWS[name];
    if (!flow) throw new Error(`no flow named ${name}`);
    const res = await this.api<{ create_flow: { id: string } }>(
      "mutation($input: create_flow_input!) { create_flow(input: $input) { id } }",
      {
        input: {
          project_id: this.currentProject,
          serialized_flow: {
            name: flow.name,
            type: "prefect.core.flow.Flow",
            parameters: [],
            tasks: flow.tasks.map((t) => ({
              ...t,
              name: t.slug,
              type: "prefect.tasks.core.function.FunctionTask",
            })),
            edges: [],
            run_config: { type: "UniversalRun", labels: ["vm"] },
            __version__: "1.4.1",
          },
        },
      },
    );
    return expectData(res).create_flow.id;
  }
}

function expectData<T>(res: { data?: T | null; errors?: Array<{ message: string }> }): T {
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data as T;
}

/** Which kind of entity a recorded id names, from the field it appears in. */
function kindOf(text: string, index: number, rootField: string): Kind {
  const before = text.slice(Math.max(0, index - 60), index);
  const field = [...before.matchAll(/([a-z_]+)\W*$/g)][0]?.[1] ?? "";
  if (field.startsWith("project_id") || (rootField === "flow" && /project/.test(before))) return "project";
  if (field.startsWith("flow_run_id")) return "flow_run";
  if (field.startsWith("task_run_id")) return "task_run";
  if (field.startsWith("task_id")) return "task";
  if (field.startsWith("flow_id") || rootField.startsWith("flow_by_pk")) return "flow";
  if (rootField.startsWith("flow_run")) return "flow_run";
  throw new Error(`cannot tell what the id at ${index} names: ...${before}`);
}

async function mapIds(text: string, rootField: string, mapper: IdMapper): Promise<string> {
  let out = "";
  let last = 0;
  for (const match of text.matchAll(UUID)) {
    const recorded = match[0];
    const actual =
      recorded === RECORDED_TENANT_ID
        ? tenantId
        : await mapper.resolve(recorded, kindOf(text, match.index, rootField));
    out += text.slice(last, match.index) + actual;
    last = match.index + recorded.length;
  }
  return out + text.slice(last);
}

/** Brings a run to the version the recorded request expects (the recording dropped repeated requests). */
async function catchUp(api: ReturnType<typeof client>, variables: string) {
  const input = JSON.parse(variables).input as { states?: Array<Record<string, unknown>> } | undefined;
  for (const s of input?.states ?? []) {
    if (typeof s.version !== "number") continue;
    const isFlowRun = typeof s.flow_run_id === "string";
    const id = String(isFlowRun ? s.flow_run_id : s.task_run_id);
    const entity = isFlowRun ? "flow_run" : "task_run";
    for (;;) {
      const res = await api<Record<string, { version: number } | null>>(
        `query { ${entity}_by_pk(id: "${id}") { version } }`,
      );
      const version = expectData(res)[`${entity}_by_pk`]?.version ?? 0;
      if (version >= s.version) break;
      const state = { type: isFlowRun ? "Submitted" : "Pending", message: "catch up", __version__: "1.4.1" };
      await api(
        `mutation($input: set_${entity}_states_input!) { set_${entity}_states(input: $input) { states { status } } }`,
        {
          input: { states: [{ [`${entity}_id`]: id, version: null, state }] },
        },
      );
    }
  }
}

function checkShape(field: string, value: unknown) {
  const row = value as Record<string, unknown>;
  switch (field) {
    case "auth_info":
      expect(row).toEqual({ tenant_id: tenantId });
      break;
    case "tenant":
      expect(value).toEqual([expect.objectContaining({ id: tenantId })]);
      break;
    case "hello":
      expect(typeof value).toBe("string");
      break;
    case "create_project":
    case "create_flow_from_compressed_string":
    case "create_flow_run":
    case "register_agent":
      expect(String(row.id)).toMatch(UUID_ONLY);
      break;
    case "register_tasks":
    case "register_edges":
    case "set_schedule_active":
    case "update_flow_run_heartbeat":
    case "write_run_logs":
      expect(row.success).toBe(true);
      break;
    case "set_flow_run_states":
    case "set_task_run_states":
      expect((row.states as Array<{ status: string }>).map((s) => s.status)).toEqual(["SUCCESS"]);
      break;
    case "get_runs_in_queue":
      expect(Array.isArray(row.flow_run_ids)).toBe(true);
      break;
    case "get_or_create_task_run_info":
      expect(String(row.id)).toMatch(UUID_ONLY);
      expect(typeof row.version).toBe("number");
      expect(row.serialized_state).toEqual(expect.objectContaining({ type: expect.any(String) }));
      break;
    case "flow_by_pk":
    case "flow_run_by_pk":
      expect(row).not.toBeNull();
      break;
    case "project":
    case "flow":
    case "flow_run":
      expect((value as unknown[]).length).toBeGreaterThan(0);
      for (const run of value as Array<{ logs?: unknown[] }>) {
        if (run.logs === undefined) continue;
        for (const log of run.logs)
          expect(log).toEqual({
            timestamp: expect.any(String),
            message: expect.any(String),
            level: expect.any(String),
          });
      }
      break;
    case "agent":
      expect(value).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ labels: ["vm"], last_queried: expect.any(String) }),
        ]),
      );
      break;
    default:
      throw new Error(`no shape check for ${field}`);
  }
}

describe("the Prefect 1.4.1 client's requests", () => {
  const all = recordedRequests();
  const requests = all.filter((r) => !r.rootFields.some((f) => KV_FIELDS.has(f)));

  it("cover the whole recording except KV (replayed in kv.test.ts)", () => {
    const left = all.filter((r) => !requests.includes(r));
    expect(left.every((r) => r.rootFields.some((f) => KV_FIELDS.has(f)))).toBe(true);
    expect(requests.length).toBeGreaterThanOrEqual(55);
  });

  it("are answered in order with the shapes the client reads", async () => {
    const api = client(runtime, key);
    const mapper = new IdMapper(api, tenantId);
    for (const request of requests) {
      const root = request.rootFields[0] ?? "";
      const query = await mapIds(request.query, root, mapper);
      const variables = await mapIds(request.variables, root, mapper);
      await catchUp(api, variables);
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      for (const [name, value] of Object.entries(request.headers)) {
        if (name === "Authorization") headers[name] = `Bearer ${key}`;
        else if (name === "X-PREFECT-AGENT-ID") headers[name] = await mapper.resolve(value, "agent");
        else if (name === "X-PREFECT-HEARTBEAT-ID") headers[name] = await mapper.resolve(value, "flow_run");
        else headers[name] = value.replaceAll(RECORDED_TENANT_ID, tenantId);
      }
      const response = await fetch(runtime.graphqlUrl, {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables }),
      });
      expect(response.status, `#${request.index}`).toBe(200);
      const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
      expect(body.errors, `#${request.index} ${query}\n${JSON.stringify(body.errors)}`).toBeUndefined();
      for (const field of request.rootFields) {
        const value = body.data?.[field];
        try {
          checkShape(field, value);
        } catch (error) {
          throw new Error(`#${request.index} ${query}: ${(error as Error).message}`);
        }
        // Remember what this response names, for the recorded ids that follow.
        const row = value as Record<string, unknown>;
        if (field === "create_project" || field === "project") {
          mapper.currentProject = String(
            field === "project" ? (value as Array<{ id: string }>)[0]?.id : row.id,
          );
          mapper.offer("project", mapper.currentProject);
        }
        if (field === "create_flow_from_compressed_string") mapper.offer("flow", String(row.id));
        if (field === "create_flow_run") mapper.offer("flow_run", String(row.id));
        if (field === "get_or_create_task_run_info") mapper.offer("task_run", String(row.id));
        if (field === "register_agent") mapper.offer("agent", String(row.id));
      }
    }
  });

  it("answer a repeated create_project with exactly `Uniqueness violation.`", async () => {
    const create = all.find((r) => r.rootFields[0] === "create_project") as RecordedRequest;
    const body = await client(runtime, key)(
      create.query,
      JSON.parse(create.variables.replaceAll(RECORDED_TENANT_ID, tenantId)),
    );
    expect(body.errors?.[0]?.message).toBe("Uniqueness violation.");
  });

  // Not in the recording (its flows published no artifacts): client.py's three artifact mutations,
  // as `create_link_artifact`, `update_markdown_artifact` and `delete_artifact` send them.
  it("answer the artifact mutations with the fields the client reads", async () => {
    const api = prefectClient(runtime, key, tenantId);
    const projectId = await createProject(api, "artifact-contract");
    const runId = await createRun(api, {
      flow_id: await registerFlow(api, projectId, pipelineFlow("artifact-contract")),
      parameters: { n: 1 },
    });
    const run = await ok<{ flow_run_by_pk: { task_runs: Array<{ id: string }> } }>(
      api,
      `{ flow_run_by_pk(id: "${runId}") { task_runs { id } } }`,
    );
    const taskRunId = run.flow_run_by_pk.task_runs[0]?.id;
    const created = await ok<{ create_task_run_artifact: { id: string | null } }>(
      api,
      "mutation($input: create_task_run_artifact_input!) {\n    create_task_run_artifact(input: $input) {\n        id\n    }\n}",
      { input: { task_run_id: taskRunId, kind: "link", data: { link: "/flow-run/x" }, tenant_id: null } },
    );
    const id = created.create_task_run_artifact.id;
    expect(id).toMatch(UUID_ONLY);
    expect(
      await ok(
        api,
        "mutation($input: update_task_run_artifact_input!) {\n    update_task_run_artifact(input: $input) {\n        success\n    }\n}",
        { input: { task_run_artifact_id: id, data: { markdown: "# done" } } },
      ),
    ).toEqual({ update_task_run_artifact: { success: true } });
    expect(
      await ok(
        api,
        "mutation($input: delete_task_run_artifact_input!) {\n    delete_task_run_artifact(input: $input) {\n        success\n    }\n}",
        { input: { task_run_artifact_id: id } },
      ),
    ).toEqual({ delete_task_run_artifact: { success: true } });
  });

  // Not in the recording: client.py `set_secret`, client/secrets.py `Secret.get()` and
  // `Secret.exists()` (what PrefectSecret runs), and the UI's `delete_secret`, exactly as sent.
  it("answer the secret calls as the client reads them", async () => {
    const api = prefectClient(runtime, key, tenantId);
    const set = `mutation($input: set_secret_input!) {
    set_secret(input: $input) {
        success
    }
}`;
    expect(await ok(api, set, { input: { name: "CONTRACT_S", value: { user: "u", n: 1 } } })).toEqual({
      set_secret: { success: true },
    });
    expect(
      await ok(api, "query($name: String!) {\n        secret_value(name: $name)\n}", { name: "CONTRACT_S" }),
    ).toEqual({
      secret_value: { user: "u", n: 1 },
    });
    expect((await ok<{ secret_names: string[] }>(api, "query{secret_names}")).secret_names).toContain(
      "CONTRACT_S",
    );
    expect(
      await ok(
        api,
        "mutation DeleteSecret($name: String!) {\n  delete_secret(input: { name: $name }) {\n    success\n  }\n}",
        {
          name: "CONTRACT_S",
        },
      ),
    ).toEqual({ delete_secret: { success: true } });
    // Secret.get() turns this message into its "not found" ValueError.
    const gone = await api("query($name: String!) {\n        secret_value(name: $name)\n}", {
      name: "CONTRACT_S",
    });
    expect(gone.errors?.[0]?.message).toContain("No value found for the requested key");
  });

  // Not in the recording: client.py `update_task_tag_limit`, `get_task_tag_limit` and
  // `delete_task_tag_limit`, rendered as its with_args dictionaries render them.
  it("answer the task tag limit calls with the fields the client reads", async () => {
    const api = prefectClient(runtime, key, tenantId);
    const get = parseGraphql({
      query: { [withArgs("task_tag_limit", { where: { tag: { _eq: "contract-db" } } })]: { limit: true } },
    });
    expect(await ok(api, get)).toEqual({ task_tag_limit: [] });
    const update = parseGraphql({
      "mutation($input: update_task_tag_limit_input!)": {
        "update_task_tag_limit(input: $input)": { id: true },
      },
    });
    const created = await ok<{ update_task_tag_limit: { id: string } }>(api, update, {
      input: { tag: "contract-db", limit: 3 },
    });
    expect(created.update_task_tag_limit.id).toMatch(UUID_ONLY);
    expect(await ok(api, get)).toEqual({ task_tag_limit: [{ limit: 3 }] });
    const remove = parseGraphql({
      "mutation($input: delete_task_tag_limit_input!)": {
        "delete_task_tag_limit(input: $input)": { success: true },
      },
    });
    expect(await ok(api, remove, { input: { limit_id: created.update_task_tag_limit.id } })).toEqual({
      delete_task_tag_limit: { success: true },
    });
    expect(await ok(api, get)).toEqual({ task_tag_limit: [] });
  });
});
