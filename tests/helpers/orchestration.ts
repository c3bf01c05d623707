import { gzipSync } from "node:zlib";
import { expect } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, type GraphQLResponse } from "./runtime.js";

/**
 * Fixtures for the orchestration tests: serialized flows shaped as Prefect 1.4.1 serializes them,
 * their compressed form, the client's request texts, and a GraphQL caller that fails loudly.
 */
export type Api = ReturnType<typeof client>;

const VERSION = "1.4.1";

function task(slug: string, options: { maxRetries?: number; type?: string } = {}) {
  return {
    slug,
    name: slug.replace(/-\d+$/, ""),
    type: options.type ?? "prefect.tasks.core.function.FunctionTask",
    max_retries: options.maxRetries ?? 0,
    retry_delay: options.maxRetries ? 1 : null,
    trigger: { fn: "prefect.triggers.all_successful", kwargs: {} },
    tags: [],
    auto_generated: false,
    cache_key: null,
    inputs: {},
    outputs: "typing.Any",
    __version__: VERSION,
  };
}

function edge(upstream: string, downstream: string, key: string | null, mapped = false) {
  return {
    upstream_task: { slug: upstream, __version__: VERSION },
    downstream_task: { slug: downstream, __version__: VERSION },
    key,
    mapped,
    flattened: false,
    __version__: VERSION,
  };
}

/**
 * A flow with a required parameter `n`, three chained tasks (extract → transform → load, transform
 * may retry) and a task mapped over transform's output (square).
 */
export function pipelineFlow(name: string, options: { labels?: string[]; extraTasks?: number } = {}) {
  const extra = Array.from({ length: options.extraTasks ?? 0 }, (_, i) => task(`extra-${i + 1}`));
  return {
    name,
    type: "prefect.core.flow.Flow",
    schedule: null,
    parameters: [
      {
        name: "n",
        slug: "n",
        required: true,
        default: null,
        type: "prefect.core.parameter.Parameter",
        __version__: VERSION,
      },
    ],
    tasks: [
      task("n", { type: "prefect.core.parameter.Parameter" }),
      task("extract-1"),
      task("transform-1", { maxRetries: 2 }),
      task("load-1"),
      task("square-1"),
      ...extra,
    ],
    edges: [
      edge("n", "extract-1", "n"),
      edge("extract-1", "transform-1", "data"),
      edge("transform-1", "load-1", "data"),
      edge("transform-1", "square-1", "x", true),
    ],
    reference_tasks: [],
    environment: null,
    run_config: { type: "UniversalRun", labels: options.labels ?? [], env: null, __version__: VERSION },
    storage: { type: "Local", directory: "/tmp/flows", flows: { [name]: `/tmp/flows/${name}.py` } },
    __version__: VERSION,
  };
}

/** base64 of gzip of the flow JSON, as `create_flow_from_compressed_string` expects. */
export function compress(flow: unknown): string {
  return gzipSync(Buffer.from(JSON.stringify(flow))).toString("base64");
}

/** A Prefect-serialized state as the client sends it. */
export function state(type: string, extra: Record<string, unknown> = {}) {
  return {
    type,
    message: `${type}.`,
    context: { tags: [] },
    cached_inputs: {},
    _result: { type: "NoResultType", __version__: VERSION },
    __version__: VERSION,
    ...extra,
  };
}

export const Q = {
  createProject: "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
  registerFlow:
    "mutation($input: create_flow_from_compressed_string_input!) { create_flow_from_compressed_string(input: $input) { id } }",
  createRun: "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
  registerAgent: "mutation($input: register_agent_input!) { register_agent(input: $input) { id } }",
  queue: "mutation($input: get_runs_in_queue_input!) { get_runs_in_queue(input: $input) { flow_run_ids } }",
  flowRunStates:
    "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { id status message } } }",
  taskRunStates:
    "mutation($input: set_task_run_states_input!) { set_task_run_states(input: $input) { states { id status message } } }",
  cancel: "mutation($input: cancel_flow_run_input!) { cancel_flow_run(input: $input) { state } }",
  heartbeat: (flowRunId: string) =>
    `mutation { update_flow_run_heartbeat(input: { flow_run_id: "${flowRunId}" }) { success } }`,
  taskRunInfo: (flowRunId: string, taskId: string, mapIndex: number) =>
    `mutation { get_or_create_task_run_info(input: { flow_run_id: "${flowRunId}", task_id: "${taskId}", map_index: ${mapIndex} }) { id version serialized_state } }`,
  /** The flow runner's read of its run (PROTOCOL.md, "The flow runner's loop"). */
  runnerRead: (flowRunId: string) => `query {
    flow_run_by_pk(id: "${flowRunId}") {
      id name flow_id parameters context version scheduled_start_time serialized_state
      task_runs(where: { map_index: { _eq: -1 } }) { id task { id slug } version serialized_state }
      flow { project { name id } }
    }
  }`,
};

/** Calls the API and fails the test on any GraphQL error. */
export async function ok<T = Record<string, unknown>>(
  api: Api,
  query: string,
  variables: unknown = {},
  headers: Record<string, string> = {},
): Promise<T> {
  const res: GraphQLResponse<T> = await api<T>(query, variables, headers);
  expect(res.errors, `${query.slice(0, 80)} → ${JSON.stringify(res.errors)}`).toBeUndefined();
  return res.data as T;
}

/** Calls the API expecting an error; returns its code and message. */
export async function fails(
  api: Api,
  query: string,
  variables: unknown = {},
  headers: Record<string, string> = {},
): Promise<{ code: string | undefined; message: string; data: unknown }> {
  const res = await api(query, variables, headers);
  expect(res.errors, `${query.slice(0, 80)} should fail`).toBeDefined();
  const first = res.errors?.[0];
  return { code: first?.extensions?.code, message: first?.message ?? "", data: res.data };
}

/** A client with the headers the Prefect client sends once it knows its tenant. */
export function prefectClient(runtime: Pick<LocalRuntime, "graphqlUrl">, key: string, tenantId: string): Api {
  return client(runtime, key, { "X-PREFECT-TENANT-ID": tenantId, "X-PREFECT-CORE-VERSION": VERSION });
}

export async function createProject(api: Api, name: string): Promise<string> {
  const data = await ok<{ create_project: { id: string } }>(api, Q.createProject, { input: { name } });
  return data.create_project.id;
}

export async function registerFlow(api: Api, projectId: string, flow: unknown, extra = {}): Promise<string> {
  const data = await ok<{ create_flow_from_compressed_string: { id: string } }>(api, Q.registerFlow, {
    input: { project_id: projectId, serialized_flow: compress(flow), set_schedule_active: true, ...extra },
  });
  return data.create_flow_from_compressed_string.id;
}

export async function createRun(api: Api, input: Record<string, unknown>): Promise<string> {
  const data = await ok<{ create_flow_run: { id: string } }>(api, Q.createRun, { input });
  return data.create_flow_run.id;
}
