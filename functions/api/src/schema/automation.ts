import { ACTION_TYPES, AUTOMATION_KINDS } from "#core/automation/entity.js";
import * as Automation from "#core/automation/index.js";

/**
 * Automations (docs/events.md, "Automations"): conditions on the workspace's runs and agents with
 * an action. Read through the read API: `automation` and each one's firings, `automation_fire`.
 */
export const automationTypeDefs = /* GraphQL */ `
  enum automation_kind {
    ${AUTOMATION_KINDS.join("\n    ")}
  }

  enum automation_action_type {
    ${ACTION_TYPES.join("\n    ")}
  }

  input automation_action_input {
    "HOOK: call a cloud hook; CANCEL_RUN: cancel the late or long run; PAUSE_SCHEDULE: pause its flow's schedule."
    type: automation_action_type!
    "The cloud hook a HOOK action calls."
    cloud_hook_id: uuid
  }

  input create_automation_input {
    name: String
    "FLOW_RUN_LATE: not started N minutes after its scheduled start; FLOW_RUN_LONG: running more than N minutes; AGENT_SILENT: no poll for N minutes; FLOW_FAILURES: N runs of a flow failed in a row."
    kind: automation_kind!
    "Minutes (1 to 10080), or runs for FLOW_FAILURES (1 to 100)."
    threshold: Int!
    "Only this flow's runs (its version group); every flow when absent. Not for AGENT_SILENT."
    version_group_id: String
    action: automation_action_input!
  }

  input delete_automation_input {
    automation_id: uuid!
  }

  input set_automation_active_input {
    automation_id: uuid!
    active: Boolean!
  }

  type automation_id_payload {
    id: uuid
  }

  type Mutation {
    create_automation(input: create_automation_input!): automation_id_payload
    delete_automation(input: delete_automation_input!): success_payload
    "Pauses (active: false) or resumes an automation."
    set_automation_active(input: set_automation_active_input!): success_payload
  }
`;

const ok = { success: true, error: null };
type In<T> = { input: T };

export const automationResolvers = {
  Mutation: {
    create_automation: (_: unknown, { input }: In<unknown>) => Automation.create(input),
    delete_automation: async (_: unknown, { input }: In<{ automation_id: string }>) => {
      await Automation.remove(input.automation_id);
      return ok;
    },
    set_automation_active: async (_: unknown, { input }: In<{ automation_id: string; active: boolean }>) => {
      await Automation.setActive(input.automation_id, input.active);
      return ok;
    },
  },
};
