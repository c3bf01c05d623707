import { TEST_STATE_TYPES, testHook } from "#core/hook/dispatch.js";
import { HOOK_TYPES } from "#core/hook/entity.js";
import * as Hook from "#core/hook/index.js";
import * as Message from "#core/hook/message.js";
import { assertOwnTenant } from "./tenant-guard.js";

/**
 * Prefect Cloud 1.0's cloud hooks (docs/events.md): the mutations of its API, with the payloads
 * its UI read, plus `signing_secret` on creation (Drover signs webhook bodies). Hooks, their
 * delivery logs and the messages PREFECT_MESSAGE hooks leave are read through the read API
 * (`cloud_hook`, `cloud_hook_delivery`, `message`: core/src/query/models.ts).
 */
export const cloudHookTypeDefs = /* GraphQL */ `
  enum cloud_hook_type {
    ${HOOK_TYPES.join("\n    ")}
  }

  enum test_cloud_hook_state_type {
    ${TEST_STATE_TYPES.join("\n    ")}
  }

  input create_cloud_hook_input {
    "Accepted for compatibility; must be the caller's workspace when given."
    tenant_id: uuid
    type: cloud_hook_type!
    name: String
    "Only runs of this flow (its version group); every flow of the workspace when absent."
    version_group_id: String
    "State names, any case (FAILED, Success, ...): the hook fires when a flow run enters one."
    states: [String!]!
    "WEBHOOK and SLACK_WEBHOOK: {url}. PREFECT_MESSAGE: none."
    config: JSON
  }

  input test_cloud_hook_input {
    cloud_hook_id: uuid!
    "A flow run of the workspace to describe in the test event; a made-up one when absent."
    flow_run_id: uuid
    state_type: test_cloud_hook_state_type
  }

  input delete_cloud_hook_input {
    cloud_hook_id: uuid!
  }

  input set_cloud_hook_active_input {
    cloud_hook_id: uuid!
  }

  input set_cloud_hook_inactive_input {
    cloud_hook_id: uuid!
  }

  input mark_message_as_read_input {
    message_id: uuid!
  }

  type cloud_hook_id_payload {
    id: uuid
    "Signs this hook's webhook bodies (header X-Drover-Signature); shown only here."
    signing_secret: String
  }

  type Mutation {
    "Creates an active cloud hook."
    create_cloud_hook(input: create_cloud_hook_input!): cloud_hook_id_payload
    "Sends a test event to the hook now (logged with its deliveries)."
    test_cloud_hook(input: test_cloud_hook_input!): success_payload
    delete_cloud_hook(input: delete_cloud_hook_input!): success_payload
    set_cloud_hook_active(input: set_cloud_hook_active_input!): success_payload
    set_cloud_hook_inactive(input: set_cloud_hook_inactive_input!): success_payload
    mark_message_as_read(input: mark_message_as_read_input!): success_payload
  }
`;

const ok = { success: true, error: null };
type In<T> = { input: T };
type HookInput = { cloud_hook_id: string };

export const cloudHookResolvers = {
  Mutation: {
    create_cloud_hook: (
      _: unknown,
      { input }: In<{ tenant_id?: string | null } & Record<string, unknown>>,
    ) => {
      assertOwnTenant(input.tenant_id);
      const { tenant_id: _tenant, ...rest } = input;
      return Hook.create(rest);
    },
    test_cloud_hook: (_: unknown, { input }: In<Parameters<typeof testHook>[0]>) => testHook(input),
    delete_cloud_hook: async (_: unknown, { input }: In<HookInput>) => {
      await Hook.remove(input.cloud_hook_id);
      return ok;
    },
    set_cloud_hook_active: async (_: unknown, { input }: In<HookInput>) => {
      await Hook.setActive(input.cloud_hook_id, true);
      return ok;
    },
    set_cloud_hook_inactive: async (_: unknown, { input }: In<HookInput>) => {
      await Hook.setActive(input.cloud_hook_id, false);
      return ok;
    },
    mark_message_as_read: async (_: unknown, { input }: In<{ message_id: string }>) => {
      await Message.markRead(input.message_id);
      return ok;
    },
  },
};
