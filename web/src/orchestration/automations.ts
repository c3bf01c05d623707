import { gql } from "../api/client";
import type { HooksQueryResult } from "./cloud-hooks";

/**
 * Automations as the dashboard reads and changes them (functions/api/src/schema/automation.ts,
 * docs/events.md "Automations"): a condition on the workspace's runs or agents, checked by the
 * scheduler's tick, and what to do when it holds. Each keeps a record of its firings.
 */
export const AUTOMATION_KINDS = ["FLOW_RUN_LATE", "FLOW_RUN_LONG", "AGENT_SILENT", "FLOW_FAILURES"] as const;
export type AutomationKind = (typeof AUTOMATION_KINDS)[number];
export const ACTION_TYPES = ["HOOK", "CANCEL_RUN", "PAUSE_SCHEDULE"] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** The longest threshold of the time kinds (a week, in minutes), and of FLOW_FAILURES (runs). */
export const MAX_THRESHOLD_MINUTES = 7 * 24 * 60;
export const MAX_FAILURE_STREAK = 100;

/** Short names of the kinds (the form's choices, the cards' badges). */
export const KIND_LABELS: Record<AutomationKind, string> = {
  FLOW_RUN_LATE: "Late flow run",
  FLOW_RUN_LONG: "Long flow run",
  AGENT_SILENT: "Silent agent",
  FLOW_FAILURES: "Failures in a row",
};

export const ACTION_LABELS: Record<ActionType, string> = {
  HOOK: "Call a hook",
  CANCEL_RUN: "Cancel the run",
  PAUSE_SCHEDULE: "Pause the flow's schedule",
};

/** What each kind may do (the API refuses the others): CANCEL_RUN needs a run, PAUSE_SCHEDULE a flow. */
export const KIND_ACTIONS: Record<AutomationKind, readonly ActionType[]> = {
  FLOW_RUN_LATE: ["HOOK", "CANCEL_RUN", "PAUSE_SCHEDULE"],
  FLOW_RUN_LONG: ["HOOK", "CANCEL_RUN", "PAUSE_SCHEDULE"],
  AGENT_SILENT: ["HOOK"],
  FLOW_FAILURES: ["HOOK", "PAUSE_SCHEDULE"],
};

/** Whether the kind's threshold counts runs (FLOW_FAILURES) rather than minutes. */
export const countsRuns = (kind: AutomationKind) => kind === "FLOW_FAILURES";
/** Whether the kind watches flow runs, so it may be restricted to one flow. */
export const watchesFlows = (kind: AutomationKind) => kind !== "AGENT_SILENT";

/** Minutes in words: "10 min", "2 h", "1 day" (whole hours and days when they are). */
export function formatMinutes(minutes: number): string {
  if (minutes >= 1440 && minutes % 1440 === 0) {
    const days = minutes / 1440;
    return `${days} ${days === 1 ? "day" : "days"}`;
  }
  if (minutes >= 60 && minutes % 60 === 0) return `${minutes / 60} h`;
  return `${minutes} min`;
}

/** The condition in words, e.g. "Flow run not started 10 min after its scheduled start". */
export function describeCondition(kind: string, threshold: number): string {
  switch (kind) {
    case "FLOW_RUN_LATE":
      return `Flow run not started ${formatMinutes(threshold)} after its scheduled start`;
    case "FLOW_RUN_LONG":
      return `Flow run running for more than ${formatMinutes(threshold)}`;
    case "AGENT_SILENT":
      return `Agent has not polled for runs for ${formatMinutes(threshold)}`;
    case "FLOW_FAILURES":
      return threshold === 1 ? "A flow run failed" : `${threshold} runs of a flow failed in a row`;
    default:
      return `${kind} (${threshold})`;
  }
}

export type AutomationAction = { type: ActionType; cloud_hook_id: string | null };

export type Automation = {
  id: string;
  name: string | null;
  kind: AutomationKind;
  threshold: number;
  version_group_id: string | null;
  action: AutomationAction;
  active: boolean;
  created: string;
  updated: string;
};

export type AutomationFire = {
  id: string;
  subject: string;
  flow_run_id: string | null;
  agent_id: string | null;
  reason: string;
  action: string;
  status: "PENDING" | "DONE" | "FAILED";
  error: string | null;
  created: string;
  updated: string;
};

export type AutomationHook = { id: string; name: string | null; type: string; active: boolean };

/** The workspace's automations, the hooks they may call and its flows (to name their scope). */
export const AUTOMATIONS = /* GraphQL */ `
  query Automations {
    automation(order_by: { created: asc }) {
      id
      name
      kind
      threshold
      version_group_id
      action
      active
      created
      updated
    }
    cloud_hook(order_by: { created: asc }) {
      id
      name
      type
      active
    }
    flow(order_by: [{ created: desc }]) {
      id
      name
      version_group_id
      archived
    }
  }
`;

export type AutomationsQueryResult = {
  automation: Automation[];
  cloud_hook: AutomationHook[];
  flow: HooksQueryResult["flow"];
};

export const FIRE_LIMIT = 20;

export const FIRES = /* GraphQL */ `
  query AutomationFires($id: uuid!, $limit: Int!) {
    automation_fire(
      where: { automation_id: { _eq: $id } }
      order_by: { created: desc }
      limit: $limit
    ) {
      id
      subject
      flow_run_id
      agent_id
      reason
      action
      status
      error
      created
      updated
    }
  }
`;

export type CreateAutomationInput = {
  name: string | null;
  kind: AutomationKind;
  threshold: number;
  version_group_id: string | null;
  action: { type: ActionType; cloud_hook_id: string | null };
};

export const automationMutations = {
  create: async (input: CreateAutomationInput) => {
    const data = await gql<{ create_automation: { id: string } }>(
      "mutation($input: create_automation_input!) { create_automation(input: $input) { id } }",
      { input },
    );
    return data.create_automation;
  },
  setActive: (id: string, active: boolean) =>
    gql(
      "mutation($id: uuid!, $active: Boolean!) { set_automation_active(input: { automation_id: $id, active: $active }) { success } }",
      { id, active },
    ),
  remove: (id: string) =>
    gql("mutation($id: uuid!) { delete_automation(input: { automation_id: $id }) { success } }", {
      id,
    }),
};
