import { gql } from "../api/client";

/** The orchestration API as the dashboard reads it: the rows it asks for, and its mutations. */
export type Project = { id: string; name: string; description: string | null };

export type FlowVersion = {
  id: string;
  name: string;
  version: number;
  archived: boolean;
  project_id: string;
  flow_group_id: string;
  parameters: Array<{ name: string; default?: unknown; required?: boolean | null }> | null;
  schedule: unknown;
  is_schedule_active: boolean;
  core_version: string | null;
  created: string;
};

export type FlowGroup = {
  id: string;
  name: string;
  labels: string[] | null;
  default_parameters: Record<string, unknown> | null;
  schedule: unknown;
};

export type FlowRunRow = {
  id: string;
  name: string;
  flow_id: string;
  flow_group_id: string;
  state: string;
  state_message: string | null;
  labels: string[] | null;
  scheduled_start_time: string;
  start_time: string | null;
  end_time: string | null;
  created: string;
};

export const RUN_FIELDS = /* GraphQL */ `
  id
  name
  flow_id
  flow_group_id
  state
  state_message
  labels
  scheduled_start_time
  start_time
  end_time
  created
`;

/** Every flow version and flow group of the workspace, with its projects (tenant listings). */
export const CATALOG = /* GraphQL */ `
  query Catalog {
    project {
      id
      name
      description
    }
    flow_group {
      id
      name
      labels
      default_parameters
      schedule
    }
    flow(order_by: [{ created: desc }]) {
      id
      name
      version
      archived
      project_id
      flow_group_id
      parameters
      schedule
      is_schedule_active
      core_version
      created
    }
  }
`;

export type Catalog = { project: Project[]; flow_group: FlowGroup[]; flow: FlowVersion[] };

/** A flow group with its versions, newest first; `latest` is the newest unarchived one. */
export type FlowEntry = { group: FlowGroup; versions: FlowVersion[]; latest: FlowVersion };

export function flowEntries(catalog: Catalog): FlowEntry[] {
  const versions = new Map<string, FlowVersion[]>();
  for (const flow of catalog.flow) {
    const list = versions.get(flow.flow_group_id) ?? [];
    list.push(flow);
    versions.set(flow.flow_group_id, list);
  }
  const entries: FlowEntry[] = [];
  for (const group of catalog.flow_group) {
    const list = (versions.get(group.id) ?? []).sort((a, b) => b.version - a.version);
    const latest = list.find((flow) => !flow.archived) ?? list[0];
    if (latest) entries.push({ group, versions: list, latest });
  }
  return entries.sort((a, b) => a.latest.name.localeCompare(b.latest.name));
}

export const mutations = {
  setScheduleActive: (flowId: string, active: boolean) =>
    gql(
      active
        ? "mutation($id: uuid!) { set_schedule_active(input: { flow_id: $id }) { success } }"
        : "mutation($id: uuid!) { set_schedule_inactive(input: { flow_id: $id }) { success } }",
      { id: flowId },
    ),
  setGroupLabels: (groupId: string, labels: string[]) =>
    gql(
      "mutation($id: uuid!, $labels: [String!]) { set_flow_group_labels(input: { flow_group_id: $id, labels: $labels }) { success } }",
      { id: groupId, labels },
    ),
  createRun: async (input: { flowId: string; parameters: Record<string, unknown>; name?: string }) => {
    const data = await gql<{ create_flow_run: { id: string } }>(
      "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
      {
        input: {
          flow_id: input.flowId,
          parameters: input.parameters,
          ...(input.name ? { flow_run_name: input.name } : {}),
        },
      },
    );
    return data.create_flow_run.id;
  },
  cancelRun: (id: string) =>
    gql("mutation($id: uuid!) { cancel_flow_run(input: { flow_run_id: $id }) { state } }", { id }),
  deleteRun: (id: string) =>
    gql("mutation($id: uuid!) { delete_flow_run(input: { flow_run_id: $id }) { success } }", { id }),
  /** Sets a run's state as a person does: no version lock, the message saying who. */
  setRunState: (id: string, type: string, message: string) =>
    gql(
      "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { id status message } } }",
      {
        input: {
          states: [{ flow_run_id: id, state: { type, message, __version__: "1.4.1" } }],
        },
      },
    ),
  setTaskRunStates: (states: Array<{ id: string; type: string; message: string }>) =>
    gql(
      "mutation($input: set_task_run_states_input!) { set_task_run_states(input: $input) { states { id status } } }",
      {
        input: {
          states: states.map((state) => ({
            task_run_id: state.id,
            state: { type: state.type, message: state.message, __version__: "1.4.1" },
          })),
        },
      },
    ),
};
