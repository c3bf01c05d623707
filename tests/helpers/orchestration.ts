import { expect } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { compress } from "./prefect-flow.js";
import { client, type GraphQLResponse } from "./runtime.js";

export { compress, pipelineFlow, state } from "./prefect-flow.js";

/**
 * Fixtures for the orchestration tests: serialized flows shaped as Prefect 1.4.1 serializes them,
 * their compressed form, the client's request texts, and a GraphQL caller that fails loudly.
 */
export type Api = ReturnType<typeof client>;

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
  return client(runtime, key, { "X-PREFECT-TENANT-ID": tenantId, "X-PREFECT-CORE-VERSION": "1.4.1" });
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
