import * as Agent from "#core/agent/index.js";
import * as FlowGroup from "#core/flow/group.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import type { Row } from "#core/query/engine.js";
import { backfill } from "#core/schedule/backfill.js";
import * as Schedule from "#core/schedule/index.js";
import { parseState } from "#core/state/types.js";
import * as TaskRun from "#core/task-run/index.js";
import { assertOwnTenant } from "./tenant-guard.js";

/**
 * The Prefect Cloud 1.0 orchestration mutations (registration, runs, states, task runs, agents),
 * with the input and payload type names the Prefect 1.4.1 client declares. Resolvers only adapt
 * GraphQL arguments to core calls.
 */
export const orchestrationTypeDefs = /* GraphQL */ `
  input create_flow_from_compressed_string_input {
    project_id: uuid!
    serialized_flow: String!
    set_schedule_active: Boolean
    version_group_id: String
    idempotency_key: String
    description: String
  }

  input create_flow_input {
    project_id: uuid!
    serialized_flow: JSON!
    set_schedule_active: Boolean
    version_group_id: String
    idempotency_key: String
    description: String
  }

  input register_tasks_input {
    flow_id: uuid!
    serialized_tasks: [JSON!]!
  }

  input register_edges_input {
    flow_id: uuid!
    serialized_edges: [JSON!]!
  }

  input flow_id_input {
    flow_id: uuid!
  }

  input set_schedule_active_input {
    flow_id: uuid!
  }

  input set_schedule_inactive_input {
    flow_id: uuid!
  }

  input archive_flow_input {
    flow_id: uuid!
  }

  input delete_flow_input {
    flow_id: uuid!
  }

  input set_flow_group_labels_input {
    flow_group_id: uuid!
    labels: [String!]
  }

  input set_flow_group_default_parameters_input {
    flow_group_id: uuid!
    parameters: JSON
  }

  input set_flow_group_run_config_input {
    flow_group_id: uuid!
    run_config: JSON
  }

  input set_flow_group_description_input {
    flow_group_id: uuid!
    description: String
  }

  input set_flow_group_schedule_input {
    flow_group_id: uuid!
    schedule: JSON
  }

  input backfill_flow_group_input {
    flow_group_id: uuid!
    start: timestamptz!
    end: timestamptz!
  }

  type backfill_flow_group_payload {
    flow_run_ids: [uuid!]!
    created: Int!
    existing: Int!
  }

  input create_flow_run_input {
    flow_id: uuid
    version_group_id: String
    parameters: JSON
    context: JSON
    labels: [String!]
    run_config: JSON
    scheduled_start_time: timestamptz
    idempotency_key: String
    flow_run_name: String
  }

  input set_flow_run_name_input {
    flow_run_id: uuid!
    name: String!
  }

  input set_task_run_name_input {
    task_run_id: uuid!
    name: String!
  }

  input set_flow_run_labels_input {
    flow_run_id: uuid!
    labels: [String!]!
  }

  input delete_flow_run_input {
    flow_run_id: uuid!
  }

  input cancel_flow_run_input {
    flow_run_id: uuid!
  }

  input set_flow_run_state_input {
    flow_run_id: uuid!
    version: Int
    state: JSON!
  }

  input set_flow_run_states_input {
    states: [set_flow_run_state_input!]!
  }

  input set_task_run_state_input {
    task_run_id: uuid!
    version: Int
    state: JSON!
  }

  input set_task_run_states_input {
    states: [set_task_run_state_input!]!
  }

  input get_or_create_task_run_info_input {
    flow_run_id: uuid!
    task_id: uuid!
    map_index: Int
  }

  input update_flow_run_heartbeat_input {
    flow_run_id: uuid!
  }

  input update_task_run_heartbeat_input {
    task_run_id: uuid!
  }

  input register_agent_input {
    type: String
    name: String
    labels: [String!]
    tenant_id: uuid
    agent_config_id: String
    core_version: String
  }

  input delete_agent_input {
    agent_id: uuid!
  }

  input get_runs_in_queue_input {
    tenant_id: uuid
    before: timestamptz
    labels: [String!]
    agent_id: uuid
  }

  type id_payload {
    id: uuid
  }

  type state_payload {
    id: uuid
    status: String
    message: String
  }

  type set_states_payload {
    states: [state_payload!]!
  }

  type cancel_flow_run_payload {
    state: String
  }

  type task_run_info_payload {
    id: uuid
    version: Int
    state: String
    serialized_state: JSON
  }

  type mapped_children_payload {
    min_start_time: timestamptz
    max_end_time: timestamptz
    state_counts: JSON
  }

  type runs_in_queue_payload {
    flow_run_ids: [uuid!]!
  }

  type flow {
    "The serialized flow as registered (stored compressed; decompressed when asked for)."
    serialized_flow: JSON
    edges: JSON
  }

  type Query {
    get_task_run_info(task_run_id: uuid!): task_run_info_payload
    mapped_children(task_run_id: uuid!): mapped_children_payload
  }

  type Mutation {
    create_flow_from_compressed_string(input: create_flow_from_compressed_string_input!): id_payload
    create_flow(input: create_flow_input!): id_payload
    register_tasks(input: register_tasks_input!): success_payload
    register_edges(input: register_edges_input!): success_payload
    set_schedule_active(input: set_schedule_active_input!): success_payload
    set_schedule_inactive(input: set_schedule_inactive_input!): success_payload
    archive_flow(input: archive_flow_input!): success_payload
    delete_flow(input: delete_flow_input!): success_payload
    set_flow_group_labels(input: set_flow_group_labels_input!): success_payload
    set_flow_group_default_parameters(input: set_flow_group_default_parameters_input!): success_payload
    set_flow_group_run_config(input: set_flow_group_run_config_input!): success_payload
    set_flow_group_description(input: set_flow_group_description_input!): success_payload
    set_flow_group_schedule(input: set_flow_group_schedule_input!): success_payload
    "Creates the runs the group's active schedule would have created in a past window (idempotent with the scheduler)."
    backfill_flow_group(input: backfill_flow_group_input!): backfill_flow_group_payload

    create_flow_run(input: create_flow_run_input!): id_payload
    set_flow_run_name(input: set_flow_run_name_input!): success_payload
    set_task_run_name(input: set_task_run_name_input!): success_payload
    set_flow_run_labels(input: set_flow_run_labels_input!): success_payload
    delete_flow_run(input: delete_flow_run_input!): success_payload
    cancel_flow_run(input: cancel_flow_run_input!): cancel_flow_run_payload
    set_flow_run_states(input: set_flow_run_states_input!): set_states_payload
    set_task_run_states(input: set_task_run_states_input!): set_states_payload
    get_or_create_task_run_info(input: get_or_create_task_run_info_input!): task_run_info_payload
    update_flow_run_heartbeat(input: update_flow_run_heartbeat_input!): success_payload
    update_task_run_heartbeat(input: update_task_run_heartbeat_input!): success_payload

    register_agent(input: register_agent_input!): id_payload
    delete_agent(input: delete_agent_input!): success_payload
    get_runs_in_queue(input: get_runs_in_queue_input!): runs_in_queue_payload
  }
`;

const ok = { success: true, error: null };
type In<T> = { input: T };
type Ctx = { request?: Request };

function info(run: TaskRun.TaskRun) {
  return { id: run.id, version: run.version, state: run.state, serialized_state: run.serialized_state };
}

export const orchestrationResolvers = {
  flow: {
    serialized_flow: (parent: Row) => Flow.serializedFlow(String(parent.id)),
    edges: (parent: Row) => Flow.edgesOf(String(parent.id)),
  },
  Query: {
    get_task_run_info: async (_: unknown, args: { task_run_id: string }) =>
      info(await TaskRun.requireTaskRun(args.task_run_id)),
    mapped_children: (_: unknown, args: { task_run_id: string }) => TaskRun.mappedChildren(args.task_run_id),
  },
  Mutation: {
    create_flow_from_compressed_string: async (_: unknown, { input }: In<Flow.RegisterInput>) => ({
      id: (await Flow.registerCompressed(input)).id,
    }),
    create_flow: async (
      _: unknown,
      { input }: In<Omit<Flow.RegisterInput, "serialized_flow"> & { serialized_flow: unknown }>,
    ) => ({
      id: (await Flow.registerJson(input)).id,
    }),
    register_tasks: async (_: unknown, { input }: In<{ flow_id: string; serialized_tasks: unknown[] }>) => {
      await Flow.registerTasks(input.flow_id, input.serialized_tasks);
      return ok;
    },
    register_edges: async (_: unknown, { input }: In<{ flow_id: string; serialized_edges: unknown[] }>) => {
      await Flow.registerEdges(input.flow_id, input.serialized_edges);
      return ok;
    },
    set_schedule_active: async (_: unknown, { input }: In<{ flow_id: string }>) => {
      await Schedule.sync((await Flow.setScheduleActive(input.flow_id, true)).flow_group_id);
      return ok;
    },
    set_schedule_inactive: async (_: unknown, { input }: In<{ flow_id: string }>) => {
      const flow = await Flow.setScheduleActive(input.flow_id, false);
      await Schedule.sync(flow.flow_group_id);
      await FlowRun.removeUnstartedAutoScheduled(input.flow_id);
      return ok;
    },
    archive_flow: async (_: unknown, { input }: In<{ flow_id: string }>) => {
      const flow = await Flow.setArchived(input.flow_id, true);
      await Schedule.sync(flow.flow_group_id);
      await FlowRun.removeUnstartedAutoScheduled(input.flow_id);
      return ok;
    },
    delete_flow: async (_: unknown, { input }: In<{ flow_id: string }>) => {
      const flow = await Flow.requireFlow(input.flow_id);
      await Flow.remove(input.flow_id);
      await Schedule.sync(flow.flow_group_id);
      return ok;
    },
    set_flow_group_labels: async (
      _: unknown,
      { input }: In<{ flow_group_id: string; labels?: string[] | null }>,
    ) => {
      await FlowGroup.set(input.flow_group_id, "labels", input.labels);
      return ok;
    },
    set_flow_group_default_parameters: async (
      _: unknown,
      { input }: In<{ flow_group_id: string; parameters?: unknown }>,
    ) => {
      await FlowGroup.set(input.flow_group_id, "default_parameters", input.parameters);
      return ok;
    },
    set_flow_group_run_config: async (
      _: unknown,
      { input }: In<{ flow_group_id: string; run_config?: unknown }>,
    ) => {
      await FlowGroup.set(input.flow_group_id, "run_config", input.run_config);
      return ok;
    },
    set_flow_group_description: async (
      _: unknown,
      { input }: In<{ flow_group_id: string; description?: string | null }>,
    ) => {
      await FlowGroup.set(input.flow_group_id, "description", input.description);
      return ok;
    },
    set_flow_group_schedule: async (
      _: unknown,
      { input }: In<{ flow_group_id: string; schedule?: unknown }>,
    ) => {
      Schedule.validate(input.schedule);
      await FlowGroup.set(input.flow_group_id, "schedule", input.schedule);
      await Schedule.sync(input.flow_group_id);
      return ok;
    },

    backfill_flow_group: (_: unknown, { input }: In<{ flow_group_id: string; start: string; end: string }>) =>
      backfill(input),

    create_flow_run: async (_: unknown, { input }: In<FlowRun.CreateInput>) => ({
      id: (await FlowRun.create(input)).id,
    }),
    set_flow_run_name: async (_: unknown, { input }: In<{ flow_run_id: string; name: string }>) => {
      await FlowRun.setName(input.flow_run_id, input.name);
      return ok;
    },
    set_task_run_name: async (_: unknown, { input }: In<{ task_run_id: string; name: string }>) => {
      await TaskRun.setName(input.task_run_id, input.name);
      return ok;
    },
    set_flow_run_labels: async (_: unknown, { input }: In<{ flow_run_id: string; labels: string[] }>) => {
      await FlowRun.setLabels(input.flow_run_id, input.labels);
      return ok;
    },
    delete_flow_run: async (_: unknown, { input }: In<{ flow_run_id: string }>) => {
      await FlowRun.remove(input.flow_run_id);
      return ok;
    },
    cancel_flow_run: async (_: unknown, { input }: In<{ flow_run_id: string }>) => ({
      state: (await FlowRun.cancel(input.flow_run_id)).state,
    }),
    set_flow_run_states: async (
      _: unknown,
      { input }: In<{ states: FlowRun.StateUpdate[] }>,
      context: Ctx,
    ) => {
      const agentId = context.request?.headers.get("x-prefect-agent-id");
      const states = await FlowRun.setStates(input.states);
      if (agentId) {
        for (const update of input.states) {
          if (parseState(update.state).type === "Submitted")
            await FlowRun.recordAgent(update.flow_run_id, agentId);
        }
      }
      return { states };
    },
    set_task_run_states: async (_: unknown, { input }: In<{ states: TaskRun.StateUpdate[] }>) => ({
      states: await TaskRun.setStates(input.states),
    }),
    get_or_create_task_run_info: async (
      _: unknown,
      { input }: In<{ flow_run_id: string; task_id: string; map_index?: number | null }>,
    ) => info(await TaskRun.getOrCreate(input)),
    update_flow_run_heartbeat: async (_: unknown, { input }: In<{ flow_run_id: string }>) => {
      await FlowRun.heartbeat(input.flow_run_id);
      return ok;
    },
    update_task_run_heartbeat: async (_: unknown, { input }: In<{ task_run_id: string }>) => {
      await TaskRun.heartbeat(input.task_run_id);
      return ok;
    },

    register_agent: async (
      _: unknown,
      { input }: In<{ tenant_id?: string | null } & Parameters<typeof Agent.register>[0]>,
    ) => {
      assertOwnTenant(input.tenant_id);
      return { id: (await Agent.register(input)).id };
    },
    delete_agent: async (_: unknown, { input }: In<{ agent_id: string }>) => {
      await Agent.remove(input.agent_id);
      return ok;
    },
    get_runs_in_queue: async (
      _: unknown,
      {
        input,
      }: In<{
        tenant_id?: string | null;
        before?: string | null;
        labels?: string[] | null;
        agent_id?: string | null;
      }>,
      context: Ctx,
    ) => {
      assertOwnTenant(input.tenant_id);
      const agentId = context.request?.headers.get("x-prefect-agent-id");
      return { flow_run_ids: await Agent.runsInQueue(input, agentId) };
    },
  },
};
