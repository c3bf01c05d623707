import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

let runtime: LocalRuntime;
let keyA: string;
let keyB: string;
let tenantA: string;
let tenantB: string;

beforeAll(async () => {
  runtime = await startTestRuntime("api");
  keyA = runtime.bootstrap.secret ?? "";
  tenantA = runtime.bootstrap.workspace.id;
  const b = await Workspace.create({ name: "Second" });
  tenantB = b.id;
  keyB = (await asTenant(b.id, () => ApiKey.create({ name: "b" }))).secret;
});

afterAll(async () => {
  await runtime?.stop();
});

const CREATE_PROJECT = "mutation($input: create_project_input!) { create_project(input: $input) { id } }";

describe("authentication", () => {
  it("resolves auth_info to the key's workspace", async () => {
    const res = await client(runtime, keyA)("query { auth_info { tenant_id } }");
    expect(res.data).toEqual({ auth_info: { tenant_id: tenantA } });
  });

  it.each([
    ["an unknown key", "drv_unknownunknownunknownunknownunknownunknown"],
    ["a malformed key", "nope"],
  ])("answers %s with an error containing UNAUTHENTICATED", async (_, key) => {
    const res = await client(runtime, key)("query { auth_info { tenant_id } }");
    expect(res.status).toBe(200);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.message).toContain("UNAUTHENTICATED");
    expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("answers a request without a key with UNAUTHENTICATED for tenant data, but serves hello", async () => {
    const anonymous = client(runtime);
    expect((await anonymous("query { hello }")).data).toEqual({ hello: expect.any(String) });
    const res = await anonymous("query { project { id } }");
    expect(res.errors?.[0]?.message).toContain("UNAUTHENTICATED");
  });

  it("stops accepting a revoked key within a few seconds", async () => {
    const created = await asTenant(tenantA, () => ApiKey.create({ name: "short-lived" }));
    const api = client(runtime, created.secret);
    expect((await api("query { auth_info { tenant_id } }")).data).toBeTruthy();
    await asTenant(tenantA, () => ApiKey.revoke(created.id));
    const revokedAt = Date.now();
    let message = "";
    while (Date.now() - revokedAt < 5_000) {
      const res = await api("query { auth_info { tenant_id } }");
      message = res.errors?.[0]?.message ?? "";
      if (message) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(message).toContain("UNAUTHENTICATED");
    expect(Date.now() - revokedAt).toBeLessThan(runtime.config.authCacheMs + 1_000);
  });

  it("refuses an expired key", async () => {
    const created = await asTenant(tenantA, () => ApiKey.create({ name: "expiring" }));
    await asTenant(tenantA, () => ApiKey.expire(created.id));
    const res = await client(runtime, created.secret)("query { auth_info { tenant_id } }");
    expect(res.errors?.[0]?.message).toMatch(/UNAUTHENTICATED.*expired/);
  });
});

describe("tenant isolation", () => {
  it("shows a second workspace's key none of the first's projects", async () => {
    const a = client(runtime, keyA);
    const b = client(runtime, keyB);
    const created = await a<{ create_project: { id: string } }>(CREATE_PROJECT, {
      input: { name: "private-a" },
    });
    const id = created.data?.create_project.id;
    expect(id).toBeTruthy();

    expect((await b<{ project: unknown[] }>("query { project { id name } }")).data?.project).toEqual([]);
    const byId = await b(
      `query { project(where: {id: {_eq: "${id}"}}) { id } project_by_pk(id: "${id}") { id } }`,
    );
    expect(byId.data).toEqual({ project: [], project_by_pk: null });
    const byName = await b('query { project(where: {name: {_eq: "private-a"}}) { id } }');
    expect(byName.data).toEqual({ project: [] });
    const tenants = await b<{ tenant: Array<{ id: string }> }>("query { tenant { id slug name } }");
    expect(tenants.data?.tenant.map((t) => t.id)).toEqual([tenantB]);
    const otherTenant = await b(
      `query { tenant(where: {id: {_eq: "${tenantA}"}}) { id } tenant_by_pk(id: "${tenantA}") { id } }`,
    );
    expect(otherTenant.data).toEqual({ tenant: [], tenant_by_pk: null });
  });

  it("refuses a tenant header naming another workspace, changing nothing", async () => {
    const b = client(runtime, keyB, { "X-PREFECT-TENANT-ID": tenantA });
    const res = await b(CREATE_PROJECT, { input: { name: "sneaky" } });
    expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const a = client(runtime, keyA);
    expect((await a('query { project(where: {name: {_eq: "sneaky"}}) { id } }')).data).toEqual({
      project: [],
    });
    expect(
      (await client(runtime, keyB)('query { project(where: {name: {_eq: "sneaky"}}) { id } }')).data,
    ).toEqual({
      project: [],
    });
  });

  it("refuses create_project naming another tenant_id", async () => {
    const res = await client(runtime, keyB)(CREATE_PROJECT, { input: { name: "cross", tenant_id: tenantA } });
    expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(
      (await client(runtime, keyA)('query { project(where: {name: {_eq: "cross"}}) { id } }')).data,
    ).toEqual({
      project: [],
    });
  });
});

describe("bad input", () => {
  async function post(body: string, headers: Record<string, string> = {}) {
    const response = await fetch(runtime.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${keyA}`, ...headers },
      body,
    });
    return {
      status: response.status,
      body: (await response.json()) as {
        errors?: Array<{ message: string; extensions?: { code?: string } }>;
      },
    };
  }

  it("answers malformed GraphQL with a parse error and a code", async () => {
    const res = await post(JSON.stringify({ query: "query { project(where: " }));
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
    expect(res.body.errors?.[0]?.message).toMatch(/Syntax Error/);
  });

  it("answers an unknown field and a wrong type with validation errors", async () => {
    const unknown = await post(JSON.stringify({ query: "{ nope }" }));
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const wrongType = await post(
      JSON.stringify({ query: CREATE_PROJECT, variables: { input: { name: 42 } } }),
    );
    expect(wrongType.body.errors?.[0]?.message).toMatch(/String/);
    const badUuid = await post(JSON.stringify({ query: '{ project_by_pk(id: "not-a-uuid") { id } }' }));
    expect(badUuid.body.errors?.[0]?.message).toMatch(/UUID/);
  });

  it("answers a body that is not JSON, or variables that are not JSON, with 400 and a code", async () => {
    const notJson = await post("{ this is not json");
    expect(notJson.status).toBe(400);
    expect(notJson.body.errors?.[0]?.extensions?.code).toBe("BAD_REQUEST");
    const badVariables = await post(JSON.stringify({ query: CREATE_PROJECT, variables: "{not json" }));
    expect(badVariables.status).toBe(400);
    expect(badVariables.body.errors?.[0]?.message).toMatch(/variables/);
  });

  it("refuses an oversize body with 413 and PAYLOAD_TOO_LARGE, storing nothing", async () => {
    const huge = JSON.stringify({
      query: CREATE_PROJECT,
      variables: { input: { name: "huge", description: "x".repeat(runtime.config.maxBodyBytes) } },
    });
    const res = await post(huge);
    expect(res.status).toBe(413);
    expect(res.body.errors?.[0]?.extensions?.code).toBe("PAYLOAD_TOO_LARGE");
    const after = await client(runtime, keyA)('query { project(where: {name: {_eq: "huge"}}) { id } }');
    expect(after.data).toEqual({ project: [] });
  });

  it("rejects invalid project input with BAD_USER_INPUT and stores nothing", async () => {
    const res = await client(runtime, keyA)(CREATE_PROJECT, { input: { name: "   " } });
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("accepts variables both as a JSON string (Prefect client) and as an object", async () => {
    const asString = await post(
      JSON.stringify({ query: CREATE_PROJECT, variables: JSON.stringify({ input: { name: "s1" } }) }),
    );
    expect(asString.body.errors).toBeUndefined();
    const asObject = await post(
      JSON.stringify({ query: CREATE_PROJECT, variables: { input: { name: "o1" } } }),
    );
    expect(asObject.body.errors).toBeUndefined();
    const nullString = await post(JSON.stringify({ query: "query { hello }", variables: "null" }));
    expect(nullString.body.errors).toBeUndefined();
  });

  it("masks unexpected errors without leaking a stack", async () => {
    const res = await post(JSON.stringify({ query: "query { hello }" }), { authorization: "Basic abc" });
    expect(res.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe("errors from scalars in variables", () => {
  it("say which input field was wrong and keep the scalar's code", async () => {
    const res = await client(runtime, keyA)(
      "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
      { input: { flow_id: "not-a-uuid" } },
    );
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toMatch(/input\.flow_id/);
    expect(res.errors?.[0]?.message).toMatch(/UUID/);
  });
});
