import { gql } from "../api/client";
import { FAMILIES, FAMILY_ORDER, STATE_TYPES } from "./states";

/**
 * Cloud hooks as the dashboard reads and changes them (functions/api/src/schema/cloud-hook.ts):
 * what to call when a flow run enters one of a hook's states, and each hook's delivery log.
 */
export const HOOK_TYPES = ["WEBHOOK", "SLACK_WEBHOOK", "PREFECT_MESSAGE"] as const;
export type HookType = (typeof HOOK_TYPES)[number];

export const HOOK_TYPE_LABELS: Record<HookType, string> = {
  WEBHOOK: "Webhook",
  SLACK_WEBHOOK: "Slack webhook",
  PREFECT_MESSAGE: "Dashboard message",
};

/** A hook's name, or what it is when it has none ("Unnamed webhook"). */
export function hookName(hook: { name: string | null; type: string }): string {
  return hook.name || `Unnamed ${HOOK_TYPE_LABELS[hook.type as HookType]?.toLowerCase() ?? hook.type}`;
}

/** The states a test event can describe (test_cloud_hook's `state_type`). */
export const TEST_STATE_TYPES = ["SCHEDULED", "SUBMITTED", "RUNNING", "SUCCESS", "FAILED"] as const;
export type TestStateType = (typeof TEST_STATE_TYPES)[number];

/** Hooks store upper-case state names; the dashboard shows Prefect's class names. */
const STATE_NAMES = new Map(STATE_TYPES.map((state) => [state.toUpperCase(), state]));
export function stateName(upper: string): string {
  return STATE_NAMES.get(upper.toUpperCase()) ?? upper;
}

/** The states a hook can watch, by family (the create form's checkbox groups). */
export const HOOK_STATE_GROUPS = FAMILY_ORDER.map((family) => ({
  family,
  label: FAMILIES[family].label,
  states: FAMILIES[family].states,
}));

export type CloudHook = {
  id: string;
  name: string | null;
  type: HookType;
  states: string[];
  config: { url?: string } | null;
  active: boolean;
  version_group_id: string | null;
  created: string;
};

export type Attempt = { at: string; status_code: number | null; latency_ms: number; error: string | null };

export type Delivery = {
  id: string;
  event_id: string;
  event_type: string;
  event_timestamp: string;
  flow_run_id: string | null;
  state: string | null;
  status: "PENDING" | "DELIVERED" | "FAILED";
  attempts: number;
  response_code: number | null;
  latency_ms: number | null;
  error: string | null;
  is_test_event: boolean;
  attempt_log: Attempt[] | null;
};

export type HookMessage = {
  id: string;
  type: string;
  read: boolean;
  created: string;
  content: {
    event?: {
      is_test_event?: boolean;
      flow?: { name?: string | null };
      flow_run?: { id?: string; name?: string };
      state?: { state?: string; message?: string | null };
    };
  } | null;
};

/** The workspace's hooks, and its flows (one entry per version group) to name a hook's scope. */
export const HOOKS = /* GraphQL */ `
  query CloudHooks {
    cloud_hook(order_by: { created: asc }) {
      id
      name
      type
      states
      config
      active
      version_group_id
      created
    }
    flow(order_by: [{ created: desc }]) {
      id
      name
      version_group_id
      archived
    }
  }
`;

export type HooksQueryResult = {
  cloud_hook: CloudHook[];
  flow: Array<{ id: string; name: string; version_group_id: string; archived: boolean }>;
};

/** The newest name of each version group, flows with an unarchived version first. */
export function flowScopes(flows: HooksQueryResult["flow"]): Array<{ versionGroupId: string; name: string }> {
  const seen = new Map<string, { name: string; archived: boolean }>();
  for (const flow of flows) {
    const known = seen.get(flow.version_group_id);
    if (!known || (known.archived && !flow.archived))
      seen.set(flow.version_group_id, { name: flow.name, archived: flow.archived });
  }
  return [...seen.entries()]
    .map(([versionGroupId, { name }]) => ({ versionGroupId, name }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const DELIVERY_LIMIT = 20;

export const DELIVERIES = /* GraphQL */ `
  query CloudHookDeliveries($id: uuid!, $limit: Int!) {
    cloud_hook_delivery(
      where: { cloud_hook_id: { _eq: $id } }
      order_by: { event_timestamp: desc }
      limit: $limit
    ) {
      id
      event_id
      event_type
      event_timestamp
      flow_run_id
      state
      status
      attempts
      response_code
      latency_ms
      error
      is_test_event
      attempt_log
    }
  }
`;

export const MESSAGE_LIMIT = 20;

export const MESSAGES = /* GraphQL */ `
  query Messages($limit: Int!) {
    message(order_by: { created: desc }, limit: $limit) {
      id
      type
      read
      content
      created
    }
  }
`;

export type CreateHookInput = {
  type: HookType;
  name: string | null;
  states: string[];
  version_group_id: string | null;
  config: { url: string } | null;
};

export const hookMutations = {
  create: async (input: CreateHookInput) => {
    const data = await gql<{ create_cloud_hook: { id: string; signing_secret: string | null } }>(
      "mutation($input: create_cloud_hook_input!) { create_cloud_hook(input: $input) { id signing_secret } }",
      { input },
    );
    return data.create_cloud_hook;
  },
  test: async (id: string, stateType: TestStateType) => {
    const data = await gql<{ test_cloud_hook: { success: boolean; error: string | null } }>(
      "mutation($input: test_cloud_hook_input!) { test_cloud_hook(input: $input) { success error } }",
      { input: { cloud_hook_id: id, state_type: stateType } },
    );
    return data.test_cloud_hook;
  },
  setActive: (id: string, active: boolean) =>
    gql(
      active
        ? "mutation($id: uuid!) { set_cloud_hook_active(input: { cloud_hook_id: $id }) { success } }"
        : "mutation($id: uuid!) { set_cloud_hook_inactive(input: { cloud_hook_id: $id }) { success } }",
      { id },
    ),
  remove: (id: string) =>
    gql("mutation($id: uuid!) { delete_cloud_hook(input: { cloud_hook_id: $id }) { success } }", { id }),
  markRead: (id: string) =>
    gql("mutation($id: uuid!) { mark_message_as_read(input: { message_id: $id }) { success } }", { id }),
};
