import {
  type DocumentNode,
  type FieldNode,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  Kind,
  type SelectionSetNode,
  valueFromASTUntyped,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import { useActor } from "#core/actor.js";
import * as Audit from "#core/audit/index.js";
import { type Permission, requirePermission } from "#core/auth/roles.js";
import { asCallerError } from "#core/errors.js";

/**
 * What each root field of the API needs (core/src/auth/roles.ts grants permissions to roles).
 * Every Query and Mutation field must be named here: `checkPermissionTable` refuses a schema with
 * one missing, so a new operation cannot ship unchecked.
 */
const READ: Permission = "read";
const QUERY_ADMIN = new Set(["api_key"]);
const QUERY_SECRET = new Set(["secret_value"]);

const MUTATIONS: Record<Permission, readonly string[]> = {
  read: ["create_session_token", "mark_message_as_read"],
  // What an agent and a flow run send (Prefect 1.4.1's agent, CloudFlowRunner, CloudTaskRunner,
  // KV and artifact helpers, and the create_flow_run task for child flow runs).
  run: [
    "register_agent",
    "get_runs_in_queue",
    "set_flow_run_states",
    "set_task_run_states",
    "get_or_create_task_run_info",
    "update_flow_run_heartbeat",
    "update_task_run_heartbeat",
    "set_flow_run_name",
    "set_task_run_name",
    "write_run_logs",
    "create_flow_run",
    "set_key_value",
    "delete_key_value",
    "create_task_run_artifact",
    "update_task_run_artifact",
    "delete_task_run_artifact",
  ],
  read_secret: [],
  develop: [
    "create_project",
    "delete_project",
    "create_flow_from_compressed_string",
    "create_flow",
    "register_tasks",
    "register_edges",
    "set_schedule_active",
    "set_schedule_inactive",
    "archive_flow",
    "delete_flow",
    "set_flow_group_labels",
    "set_flow_group_default_parameters",
    "set_flow_group_run_config",
    "set_flow_group_description",
    "set_flow_group_schedule",
    "set_flow_group_settings",
    "backfill_flow_group",
    "set_flow_run_labels",
    "delete_flow_run",
    "cancel_flow_run",
    "delete_agent",
    "enable_flow_heartbeat",
    "disable_flow_heartbeat",
    "enable_flow_lazarus_process",
    "disable_flow_lazarus_process",
  ],
  admin: [
    "create_api_key",
    "revoke_api_key",
    "expire_api_key",
    "set_secret",
    "delete_secret",
    "update_task_tag_limit",
    "delete_task_tag_limit",
    "update_task_concurrency_limit",
    "delete_task_concurrency_limit",
    "update_flow_concurrency_limit",
    "delete_flow_concurrency_limit",
    // Cloud hooks send the workspace's run data to outside addresses: admins decide where.
    "create_cloud_hook",
    "delete_cloud_hook",
    "set_cloud_hook_active",
    "set_cloud_hook_inactive",
    "test_cloud_hook",
    "create_automation",
    "delete_automation",
    "set_automation_active",
  ],
};
const MUTATION_PERMISSION = new Map(
  Object.entries(MUTATIONS).flatMap(([permission, fields]) =>
    fields.map((field) => [field, permission as Permission] as const),
  ),
);
/** Admin actions that write their own audit entry in the same transaction (core/src/secret). */
const SELF_AUDITED = new Set(["set_secret", "delete_secret"]);

export function permissionOf(operation: "query" | "mutation", field: string): Permission | undefined {
  if (operation === "mutation") return MUTATION_PERMISSION.get(field);
  if (field.startsWith("__")) return READ;
  if (QUERY_ADMIN.has(field) || field.startsWith("audit_entry")) return "admin";
  if (QUERY_SECRET.has(field)) return "read_secret";
  return READ;
}

/** Throws unless every Mutation field of `schema` has a permission (Query fields default to read). */
export function checkPermissionTable(schema: GraphQLSchema): void {
  const mutation = schema.getMutationType();
  const missing = Object.keys(mutation?.getFields() ?? {}).filter((f) => !MUTATION_PERMISSION.has(f));
  if (missing.length > 0) {
    throw new Error(`Mutations without a permission in schema/permissions.ts: ${missing.join(", ")}`);
  }
  const unknown = [...MUTATION_PERMISSION.keys()].filter((f) => !mutation?.getFields()[f]);
  if (unknown.length > 0) throw new Error(`Permissions for unknown mutations: ${unknown.join(", ")}`);
}

/** The root fields an operation selects, with their response keys (through fragments at the root). */
function rootFields(document: DocumentNode, operationName: string | null | undefined) {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
  );
  const fields: Array<{ name: string; key: string; node: FieldNode }> = [];
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        fields.push({
          name: selection.name.value,
          key: selection.alias?.value ?? selection.name.value,
          node: selection,
        });
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment && !seen.has(fragment.name.value)) {
          seen.add(fragment.name.value);
          walk(fragment.selectionSet);
        }
      }
    }
  };
  walk(operation.selectionSet);
  return { type: operation.operation, fields };
}

/**
 * Checks the caller's role against every root field before anything executes (a document mixing
 * allowed and refused mutations changes nothing), and after a mutation records each admin action
 * that succeeded in the workspace's audit log before the answer leaves.
 */
export function permissionsPlugin(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (useActor().type !== "tenant") return;
      const root = rootFields(args.document, args.operationName);
      if (!root || root.type === "subscription") return;
      const type = root.type;
      // A field without a permission is refused (fail closed); checkPermissionTable keeps there being none.
      const fields = root.fields.map((f) => ({ ...f, permission: permissionOf(type, f.name) ?? "admin" }));
      for (const field of fields) {
        try {
          requirePermission(field.permission, field.name);
        } catch (error) {
          const known = asCallerError(error);
          if (!known) throw error;
          setResultAndStopExecution({
            data: null,
            errors: [new GraphQLError(known.message, { extensions: { code: known.code } })],
          });
          return;
        }
      }
      if (type !== "mutation") return;
      const audited = fields.filter((f) => f.permission === "admin" && !SELF_AUDITED.has(f.name));
      if (audited.length === 0) return;
      return {
        async onExecuteDone({ result }) {
          if (!("data" in result)) return;
          const data = (result.data ?? {}) as Record<string, unknown>;
          const failed = new Set((result.errors ?? []).map((e) => String(e.path?.[0] ?? "")));
          for (const field of audited) {
            if (failed.has(field.key) || data[field.key] == null) continue;
            await Audit.record(field.name, null, argumentsOf(field.node, args.variableValues));
          }
        },
      };
    },
  };
}

/**
 * What an admin action's entry keeps of its request: its arguments as sent (admin inputs hold no
 * secrets). Read from the document untyped: yoga's schema may come from another copy of graphql.
 */
function argumentsOf(node: FieldNode, variables: Record<string, unknown> | null | undefined): unknown {
  const args = node.arguments ?? [];
  if (args.length === 0) return null;
  return Object.fromEntries(args.map((a) => [a.name.value, valueFromASTUntyped(a.value, variables ?? {})]));
}
