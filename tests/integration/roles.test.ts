import type { GraphQLField, GraphQLObjectType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "#core/auth/roles.js";
import { ApiKey, asTenant } from "#core/index.js";
import { buildSchema } from "../../functions/api/src/schema/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * Roles over HTTP (docs/roles.md): a key of each role sends every root field of the schema and
 * is refused exactly the ones its role does not allow; refused requests change nothing; admin
 * actions land in the audit log, which only admins read.
 */
let runtime: LocalRuntime;
let tenantId: string;
const keys = {} as Record<Role, string>;
const apis = {} as Record<Role, Api>;

beforeAll(async () => {
  runtime = await startTestRuntime("roles");
  tenantId = runtime.bootstrap.workspace.id;
  apis.admin = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  keys.admin = runtime.bootstrap.secret ?? "";
  for (const role of ["developer", "runner", "read_only"] as const) {
    const created = await ok<{ create_api_key: { key: string; api_key: { role: string } } }>(
      apis.admin,
      "mutation($input: create_api_key_input!) { create_api_key(input: $input) { key api_key { role } } }",
      { input: { name: `roles-${role}`, role } },
    );
    expect(created.create_api_key.api_key.role).toBe(role);
    keys[role] = created.create_api_key.key;
    apis[role] = prefectClient(runtime, keys[role], tenantId);
  }
});
afterAll(async () => {
  await runtime?.stop();
});

const schema = buildSchema();
const queryFields = Object.keys((schema.getQueryType() as GraphQLObjectType).getFields());
const mutationType = schema.getMutationType() as GraphQLObjectType;
const mutationFields = Object.keys(mutationType.getFields());

// The expected sets, written out: the specification the table in schema/permissions.ts must meet.
const ADMIN_QUERIES = ["api_key", "audit_entry", "audit_entry_by_pk", "audit_entry_aggregate"];
const RUNNER_MUTATIONS = [
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
  "create_session_token",
  "mark_message_as_read",
];
const ADMIN_MUTATIONS = [
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
  "create_cloud_hook",
  "delete_cloud_hook",
  "set_cloud_hook_active",
  "set_cloud_hook_inactive",
  "test_cloud_hook",
  "create_automation",
  "delete_automation",
  "set_automation_active",
];
const allowed: Record<Role, { query: Set<string>; mutation: Set<string> }> = {
  admin: { query: new Set(queryFields), mutation: new Set(mutationFields) },
  developer: {
    query: new Set(queryFields.filter((f) => !ADMIN_QUERIES.includes(f))),
    mutation: new Set(mutationFields.filter((f) => !ADMIN_MUTATIONS.includes(f))),
  },
  runner: {
    query: new Set(queryFields.filter((f) => !ADMIN_QUERIES.includes(f))),
    mutation: new Set(RUNNER_MUTATIONS),
  },
  read_only: {
    query: new Set(queryFields.filter((f) => !ADMIN_QUERIES.includes(f) && f !== "secret_value")),
    mutation: new Set(["create_session_token", "mark_message_as_read"]),
  },
};

/**
 * A document selecting `field` with each required argument bound to a variable that is not sent:
 * the role check runs before variables are coerced, so an allowed field answers a missing-variable
 * error (nothing executes) and a refused one FORBIDDEN.
 */
// graphql-yoga's schema may come from another copy of graphql than this file's: no instanceof.
const isNonNullType = (type: { toString(): string }) => type.toString().endsWith("!");
function isComposite(type: unknown): boolean {
  let named = type as { ofType?: unknown };
  while (named.ofType) named = named.ofType as { ofType?: unknown };
  return "getFields" in named || "getTypes" in named;
}

function probe(kind: "query" | "mutation", field: GraphQLField<unknown, unknown>): string {
  const required = field.args.filter((a) => isNonNullType(a.type));
  const defs = required.map((a) => `$${a.name}: ${a.type.toString()}`).join(", ");
  const args = required.map((a) => `${a.name}: $${a.name}`).join(", ");
  const selection = isComposite(field.type) ? " { __typename }" : "";
  return `${kind}${defs ? `(${defs})` : ""} { ${field.name}${args ? `(${args})` : ""}${selection} }`;
}

describe("roles", () => {
  it("names every mutation in the expected sets (a new one must be placed)", () => {
    const placed = new Set([...RUNNER_MUTATIONS, ...ADMIN_MUTATIONS]);
    // Developer mutations are the rest: each must need at least one argument, so probing runs
    // nothing (create_session_token, every role's, stores nothing).
    for (const name of mutationFields.filter((f) => f !== "create_session_token")) {
      const field = mutationType.getFields()[name];
      expect(
        field?.args.some((a) => isNonNullType(a.type)),
        `${name} takes a required argument`,
      ).toBe(true);
    }
    expect([...placed].filter((f) => !mutationFields.includes(f))).toEqual([]);
  });

  it.each(["admin", "developer", "runner", "read_only"] as const)(
    "lets a %s key send exactly the root fields its role allows",
    async (role) => {
      const refused: string[] = [];
      const wrong: string[] = [];
      for (const [kind, type] of [
        ["query", schema.getQueryType()],
        ["mutation", mutationType],
      ] as const) {
        for (const field of Object.values((type as GraphQLObjectType).getFields())) {
          const res = await apis[role](probe(kind, field));
          const code = res.errors?.[0]?.extensions?.code;
          const isRefused = code === "FORBIDDEN";
          if (isRefused) {
            refused.push(field.name);
            expect(res.errors?.[0]?.message).toContain("UNAUTHENTICATED");
            expect(res.errors?.[0]?.message).toContain(`role ${role}`);
          }
          if (isRefused === allowed[role][kind].has(field.name)) wrong.push(`${kind} ${field.name}`);
        }
      }
      expect(wrong).toEqual([]);
      if (role === "admin") expect(refused).toEqual([]);
      else expect(refused.length).toBeGreaterThan(0);
    },
  );

  it("refuses a wrong-role mutation without changing anything, even beside an allowed one", async () => {
    const before = await ok<{ project: unknown[] }>(apis.admin, "{ project { id } }");
    const res = await fails(
      apis.runner,
      `mutation { create_project(input: { name: "runner-made" }) { id } }`,
    );
    expect(res.code).toBe("FORBIDDEN");
    expect(res.message).toBe(
      "UNAUTHENTICATED: this API key's role runner does not allow create_project (roles that do: admin, developer)",
    );
    // Both fields would be allowed to an admin; the developer may run only the first, so neither runs.
    const mixed = await fails(
      apis.developer,
      `mutation {
        create_project(input: { name: "developer-made" }) { id }
        update_task_tag_limit(input: { tag: "roles-mixed", limit: 2 }) { id }
      }`,
    );
    expect(mixed.code).toBe("FORBIDDEN");
    expect(mixed.message).toContain("update_task_tag_limit");
    expect(await ok<{ project: unknown[] }>(apis.admin, "{ project { id } }")).toEqual(before);
    expect(await ok(apis.admin, `{ task_tag_limit(where: { tag: { _eq: "roles-mixed" } }) { id } }`)).toEqual(
      {
        task_tag_limit: [],
      },
    );
  });

  it("lets a runner key drive a run the developer created, as an agent and flow runner do", async () => {
    const projectId = await createProject(apis.developer, "roles-run");
    const flowId = await registerFlow(apis.developer, projectId, pipelineFlow("roles-run"));
    const runId = await createRun(apis.developer, { flow_id: flowId, parameters: { n: 1 } });
    const runner = apis.runner;
    const agent = await ok<{ register_agent: { id: string } }>(runner, Q.registerAgent, {
      input: { type: "LocalAgent", name: "roles-agent", labels: [] },
    });
    expect(agent.register_agent.id).toBeTruthy();
    const run = await ok<{ flow_run_by_pk: { version: number } }>(
      runner,
      `{ flow_run_by_pk(id: "${runId}") { version } }`,
    );
    const set = await ok<{ set_flow_run_states: { states: Array<{ status: string }> } }>(
      runner,
      Q.flowRunStates,
      {
        input: {
          states: [{ flow_run_id: runId, version: run.flow_run_by_pk.version, state: state("Running") }],
        },
      },
    );
    expect(set.set_flow_run_states.states[0]?.status).toBe("SUCCESS");
    expect(
      (await fails(runner, `mutation { delete_flow_run(input: { flow_run_id: "${runId}" }) { success } }`))
        .code,
    ).toBe("FORBIDDEN");
    expect(await ok(apis.read_only, `{ flow_run_by_pk(id: "${runId}") { state } }`)).toEqual({
      flow_run_by_pk: { state: "Running" },
    });
  });

  it("gives a read_only key names of secrets but not their values, and records no read", async () => {
    await ok(apis.admin, `mutation { set_secret(input: { name: "ROLES_S", value: "v" }) { success } }`);
    expect((await ok<{ secret_names: string[] }>(apis.read_only, "{ secret_names }")).secret_names).toContain(
      "ROLES_S",
    );
    const res = await fails(apis.read_only, `{ secret_value(name: "ROLES_S") }`);
    expect(res.code).toBe("FORBIDDEN");
    const reads = await ok<{ audit_entry: Array<{ action: string }> }>(
      apis.admin,
      `{ audit_entry(where: { target: { _eq: "ROLES_S" } }) { action } }`,
    );
    expect(reads.audit_entry.map((e) => e.action).sort()).toEqual(["secret.set"]);
    expect(await ok(apis.runner, `{ secret_value(name: "ROLES_S") }`)).toEqual({ secret_value: "v" });
  });

  it("records every admin action in the audit log with its key and role, readable by admins only", async () => {
    const adminKeyId = (await asTenant(tenantId, () => ApiKey.list())).find(
      (k) => k.name === "bootstrap",
    )?.id;
    await ok(
      apis.admin,
      `mutation { update_task_tag_limit(input: { tag: "roles-audit", limit: 3 }) { id } }`,
    );
    const created = await ok<{ create_api_key: { id: string } }>(
      apis.admin,
      `mutation { create_api_key(input: { name: "roles-audited", role: "read_only" }) { id } }`,
    );
    await ok(apis.admin, `mutation($id: uuid!) { revoke_api_key(input: { key_id: $id }) { id } }`, {
      id: created.create_api_key.id,
    });
    const log = await ok<{
      audit_entry: Array<{ action: string; api_key_id: string; role: string; detail: unknown }>;
    }>(apis.admin, `{ audit_entry(order_by: { at: desc }, limit: 10) { action api_key_id role detail } }`);
    // Newest first: the newest entry of each action wins.
    const byAction = new Map([...log.audit_entry].reverse().map((e) => [e.action, e]));
    expect(byAction.get("update_task_tag_limit")).toEqual({
      action: "update_task_tag_limit",
      api_key_id: adminKeyId,
      role: "admin",
      detail: { input: { tag: "roles-audit", limit: 3 } },
    });
    expect(byAction.get("create_api_key")?.detail).toEqual({
      input: { name: "roles-audited", role: "read_only" },
    });
    expect(byAction.get("revoke_api_key")?.detail).toEqual({ input: { key_id: created.create_api_key.id } });
    for (const role of ["developer", "runner", "read_only"] as const) {
      expect((await fails(apis[role], "{ audit_entry { action } }")).code).toBe("FORBIDDEN");
    }
    // A refused admin action is not recorded.
    const before = log.audit_entry.length;
    await fails(
      apis.developer,
      `mutation { update_task_tag_limit(input: { tag: "roles-no", limit: 1 }) { id } }`,
    );
    const after = await ok<{ audit_entry: unknown[] }>(
      apis.admin,
      `{ audit_entry(where: { action: { _eq: "update_task_tag_limit" } }) { action detail } }`,
    );
    expect(after.audit_entry).toHaveLength(1);
    expect(before).toBeGreaterThanOrEqual(3);
  });

  it("refuses an unknown role with BAD_USER_INPUT and tells each key its role", async () => {
    const res = await fails(
      apis.admin,
      `mutation { create_api_key(input: { name: "x", role: "owner" }) { id } }`,
    );
    expect(res).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(res.message).toContain("role must be one of admin, developer, runner, read_only");
    for (const role of ["admin", "runner"] as const) {
      expect(await ok(apis[role], "{ auth_info { role tenant_id } }")).toEqual({
        auth_info: { role, tenant_id: tenantId },
      });
    }
  });

  it("keeps a session to the key's role", async () => {
    const session = await ok<{ create_session_token: { token: string } }>(
      apis.read_only,
      "mutation { create_session_token { token } }",
    );
    const viaSession = prefectClient(runtime, session.create_session_token.token, tenantId);
    expect(await ok(viaSession, "{ auth_info { role } }")).toEqual({ auth_info: { role: "read_only" } });
    expect(
      (await fails(viaSession, `mutation { create_project(input: { name: "via-session" }) { id } }`)).code,
    ).toBe("FORBIDDEN");
  });

  it("applies the role to the KV REST face: read_only reads, runner writes", async () => {
    const rest = (key: string, method: string, body?: unknown) =>
      fetch(`${runtime.url}/kv/roles-key`, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    expect((await rest(keys.runner, "PUT", { value: 1 })).status).toBe(201);
    const refused = await rest(keys.read_only, "PUT", { value: 2 });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
    const read = await rest(keys.read_only, "GET");
    expect(read.status).toBe(200);
    expect(((await read.json()) as { value: unknown }).value).toBe(1);
  });
});
