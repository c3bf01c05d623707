import {
  effectiveSettings,
  groupSettings,
  type PoliciesInput,
  setHeartbeatEnabled,
  setLazarusEnabled,
  setPolicies,
} from "#core/flow/settings.js";
import type { Row } from "#core/query/engine.js";

/**
 * Flow settings: Prefect Server/Cloud 1.0's per-flow toggles (`enable_flow_heartbeat`,
 * `disable_flow_heartbeat`, `enable_flow_lazarus_process`, `disable_flow_lazarus_process`; input
 * `{ flow_id }`, answer `success_payload`, stored in the flow's group as Prefect does) and Drover's
 * own `set_flow_group_settings` for the group's late-run and overlap policies. `flow.settings` and
 * `flow_group.settings` read as the settings in force, defaults filled in (core/src/flow/settings.ts).
 */
export const settingsTypeDefs = /* GraphQL */ `
  input enable_flow_heartbeat_input {
    flow_id: uuid!
  }

  input disable_flow_heartbeat_input {
    flow_id: uuid!
  }

  input enable_flow_lazarus_process_input {
    flow_id: uuid!
  }

  input disable_flow_lazarus_process_input {
    flow_id: uuid!
  }

  "Fields left out are unchanged; a field set to null goes back to its default."
  input set_flow_group_settings_input {
    flow_group_id: uuid!
    "Skip (or cancel) a run still Scheduled this many seconds after its start: 1 to 2592000 (30 days). Default null: never."
    max_lateness_seconds: Int
    "What a run too late becomes: Skipped (default) or Cancelled."
    late_run_state: String
    "allow (default): runs of the group may overlap; skip: a scheduled run that comes due while another run of the group is in progress is skipped."
    overlap_policy: String
  }

  type set_flow_group_settings_payload {
    success: Boolean
    error: String
    "The group's settings in force after the change."
    settings: JSON
  }

  type Mutation {
    "Enable heartbeats (and the scheduler's zombie check) for a flow's runs; a setting of its flow group."
    enable_flow_heartbeat(input: enable_flow_heartbeat_input!): success_payload
    "Disable heartbeats (and the scheduler's zombie check) for a flow's runs; a setting of its flow group."
    disable_flow_heartbeat(input: disable_flow_heartbeat_input!): success_payload
    "Let the scheduler reschedule a flow's runs whose process vanished (lazarus); a setting of its flow group."
    enable_flow_lazarus_process(input: enable_flow_lazarus_process_input!): success_payload
    "Stop the scheduler rescheduling a flow's runs whose process vanished; a setting of its flow group."
    disable_flow_lazarus_process(input: disable_flow_lazarus_process_input!): success_payload
    "Set a flow group's late-run and overlap policies (Drover)."
    set_flow_group_settings(input: set_flow_group_settings_input!): set_flow_group_settings_payload
  }
`;

const ok = { success: true, error: null };
type FlowInput = { input: { flow_id: string } };

/** A request's reads of group settings, shared by the flows (versions) of one group it returns. */
const perRequest = new WeakMap<object, Map<string, Promise<Record<string, unknown>>>>();

function groupSettingsFor(context: object, groupId: string) {
  let cache = perRequest.get(context);
  if (!cache) {
    cache = new Map();
    perRequest.set(context, cache);
  }
  let settings = cache.get(groupId);
  if (!settings) {
    settings = groupSettings(groupId);
    cache.set(groupId, settings);
  }
  return settings;
}

export const settingsResolvers = {
  flow: {
    /** The flow's settings in force: its own, overridden by its group's (what the scheduler enforces). */
    settings: async (parent: Row, _: unknown, context: object) =>
      effectiveSettings(
        parent.settings,
        typeof parent.flow_group_id === "string" ? await groupSettingsFor(context, parent.flow_group_id) : {},
      ),
  },
  flow_group: {
    settings: (parent: Row) => effectiveSettings({}, parent.settings),
  },
  Mutation: {
    enable_flow_heartbeat: async (_: unknown, { input }: FlowInput) => {
      await setHeartbeatEnabled(input.flow_id, true);
      return ok;
    },
    disable_flow_heartbeat: async (_: unknown, { input }: FlowInput) => {
      await setHeartbeatEnabled(input.flow_id, false);
      return ok;
    },
    enable_flow_lazarus_process: async (_: unknown, { input }: FlowInput) => {
      await setLazarusEnabled(input.flow_id, true);
      return ok;
    },
    disable_flow_lazarus_process: async (_: unknown, { input }: FlowInput) => {
      await setLazarusEnabled(input.flow_id, false);
      return ok;
    },
    set_flow_group_settings: async (_: unknown, { input }: { input: PoliciesInput }) => ({
      ...ok,
      settings: await setPolicies(input),
    }),
  },
};
