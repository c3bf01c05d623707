import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/** The KV store through both faces over HTTP: GraphQL (as the Prefect client speaks it) and REST. */
let runtime: LocalRuntime;
let keyA: string;
let keyB: string;

beforeAll(async () => {
  runtime = await startTestRuntime("kv-api");
  keyA = runtime.bootstrap.secret ?? "";
  const other = await Workspace.create({ name: "KV other" });
  keyB = (await asTenant(other.id, () => ApiKey.create({ name: "kv-b" }))).secret;
});
afterAll(async () => {
  await runtime?.stop();
});

function rest(key: string | undefined, method: string, path: string, body?: unknown) {
  return fetch(`${runtime.url}/kv/${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

async function restJson(key: string | undefined, method: string, path: string, body?: unknown) {
  const response = await rest(key, method, path, body);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const SET = "mutation($input: set_key_value_input!) { set_key_value(input: $input) { id version } }";
const GET =
  "query($key: String!) { key_value(where: {key: {_eq: $key}}) { id key value version updated_by } }";
const DELETE = "mutation($input: delete_key_value_input!) { delete_key_value(input: $input) { success } }";

describe("KV over GraphQL", () => {
  it("sets a JSON-text string and an object and returns both as JSON values, with versions", async () => {
    const gql = client(runtime, keyA);
    const first = await gql<{ set_key_value: { id: string; version: number } }>(SET, {
      input: { key: "gql/obj", value: '{"a": 1}' },
    });
    expect(first.errors).toBeUndefined();
    expect(first.data?.set_key_value.version).toBe(1);
    const second = await gql<{ set_key_value: { id: string; version: number } }>(SET, {
      input: { key: "gql/obj", value: { x: [1, 2] } },
    });
    expect(second.data?.set_key_value).toEqual({ id: first.data?.set_key_value.id, version: 2 });
    const read = await gql<{ key_value: Array<Record<string, unknown>> }>(GET, { key: "gql/obj" });
    expect(read.data?.key_value).toEqual([
      expect.objectContaining({ key: "gql/obj", value: { x: [1, 2] }, version: 2 }),
    ]);
    expect(read.data?.key_value[0]?.updated_by).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("compare-and-set conflicts carry VERSION_LOCKING_ERROR; oversized values PAYLOAD_TOO_LARGE", async () => {
    const gql = client(runtime, keyA);
    await gql(SET, { input: { key: "gql/cas", value: 1 } });
    const stale = await gql(SET, { input: { key: "gql/cas", value: 2, expected_version: 7 } });
    expect(stale.errors?.[0]?.extensions?.code).toBe("VERSION_LOCKING_ERROR");
    const big = await gql(SET, { input: { key: "gql/big", value: "x".repeat(20_000) } });
    expect(big.errors?.[0]?.extensions?.code).toBe("PAYLOAD_TOO_LARGE");
    const badKey = await gql(SET, { input: { key: "tab\there", value: 1 } });
    expect(badKey.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("deleting a missing id answers NOT_FOUND; a missing key reads as an empty list", async () => {
    const gql = client(runtime, keyA);
    const missing = await gql(DELETE, { input: { key_value_id: "00000000-0000-4000-8000-000000000000" } });
    expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(missing.errors?.[0]?.message).toMatch(/not found/i);
    const read = await gql<{ key_value: unknown[] }>(GET, { key: "never-set" });
    expect(read.data?.key_value).toEqual([]);
  });

  it("isolates workspaces: B cannot read, list or delete A's pairs", async () => {
    const a = client(runtime, keyA);
    const b = client(runtime, keyB);
    const set = await a<{ set_key_value: { id: string } }>(SET, {
      input: { key: "secret/a", value: "only-a" },
    });
    const id = set.data?.set_key_value.id as string;
    expect((await b<{ key_value: unknown[] }>(GET, { key: "secret/a" })).data?.key_value).toEqual([]);
    const listed = await b<{ key_value: Array<{ key: string }> }>("{ key_value { key } }");
    expect(listed.data?.key_value.map((p) => p.key)).not.toContain("secret/a");
    const byId = await b<{ key_value_by_pk: unknown }>(
      "query($id: uuid!) { key_value_by_pk(id: $id) { key } }",
      {
        id,
      },
    );
    expect(byId.data?.key_value_by_pk).toBeNull();
    const del = await b(DELETE, { input: { key_value_id: id } });
    expect(del.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect((await a<{ key_value: unknown[] }>(GET, { key: "secret/a" })).data?.key_value).toHaveLength(1);
  });

  it("lists with order_by, limit and a prefix, and reports usage", async () => {
    const gql = client(runtime, keyB);
    for (const key of ["list/b", "list/a", "list/c", "other"]) await gql(SET, { input: { key, value: key } });
    const page = await gql<{ key_value: Array<{ key: string; value: unknown }> }>(
      '{ key_value(where: {key: {_like: "list/%"}}, order_by: {key: desc}, limit: 2) { key value } }',
    );
    expect(page.data?.key_value).toEqual([
      { key: "list/c", value: "list/c" },
      { key: "list/b", value: "list/b" },
    ]);
    const usage = await gql<{ key_value_usage: { pair_count: number; max_pairs: number } }>(
      "{ key_value_usage { pair_count max_pairs } }",
    );
    expect(usage.data?.key_value_usage).toEqual({ pair_count: 4, max_pairs: 1000 });
  });
});

describe("KV over REST", () => {
  it("PUT creates (201) then overwrites (200); GET reads; DELETE deletes; then 404", async () => {
    const created = await restJson(keyA, "PUT", "rest/one", { value: { n: 1 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ key: "rest/one", value: { n: 1 }, version: 1 });
    const updated = await restJson(keyA, "PUT", "rest/one", { value: "two" });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: created.body.id, value: "two", version: 2 });
    const read = await restJson(keyA, "GET", "rest/one");
    expect(read).toMatchObject({ status: 200, body: { value: "two", version: 2 } });
    expect((await restJson(keyA, "DELETE", "rest/one")).body).toMatchObject({ success: true });
    const gone = await restJson(keyA, "GET", "rest/one");
    expect(gone).toEqual({
      status: 404,
      body: { error: { code: "NOT_FOUND", message: 'Key "rest/one" not found.' } },
    });
    expect((await restJson(keyA, "DELETE", "rest/one")).status).toBe(404);
  });

  it("keys with unicode and slashes work, encoded or not, and match GraphQL's view", async () => {
    const key = "données/日本/🚀 x/y";
    const put = await restJson(keyA, "PUT", encodeURIComponent(key), { value: 1 });
    expect(put.status).toBe(201);
    expect(put.body.key).toBe(key);
    const raw = await restJson(keyA, "GET", key.split("/").map(encodeURIComponent).join("/"));
    expect(raw.body).toMatchObject({ key, value: 1 });
    const gql = await client(runtime, keyA)<{ key_value: Array<{ value: unknown }> }>(GET, { key });
    expect(gql.data?.key_value[0]?.value).toBe(1);
    const listed = await restJson(keyA, "GET", `?prefix=${encodeURIComponent("données/")}`);
    expect((listed.body.key_values as Array<{ key: string }>).map((p) => p.key)).toEqual([key]);
  });

  it("answers 401 without a key, 400 for bad bodies and keys, 409 on a stale version, 413 for big values", async () => {
    expect((await restJson(undefined, "GET", "x")).status).toBe(401);
    expect((await restJson("drv_not-a-real-key-000000000000000000000", "GET", "x")).body).toMatchObject({
      error: { code: "UNAUTHENTICATED" },
    });
    expect((await restJson(keyA, "PUT", "x", "not json")).status).toBe(400);
    expect((await restJson(keyA, "PUT", "x", { nope: 1 })).status).toBe(400);
    expect((await restJson(keyA, "PUT", "a%0Ab", { value: 1 })).body).toMatchObject({
      error: { code: "BAD_USER_INPUT" },
    });
    expect((await restJson(keyA, "GET", "%E0%A4%A")).status).toBe(400);
    await restJson(keyA, "PUT", "rest/cas", { value: 1 });
    const stale = await restJson(keyA, "PUT", "rest/cas", { value: 2, expected_version: 5 });
    expect(stale).toMatchObject({ status: 409, body: { error: { code: "VERSION_LOCKING_ERROR" } } });
    const exists = await restJson(keyA, "PUT", "rest/cas", { value: 2, expected_version: 0 });
    expect(exists.status).toBe(409);
    expect((await restJson(keyA, "PUT", "rest/cas", { value: 2, expected_version: 1 })).body).toMatchObject({
      version: 2,
    });
    const big = await restJson(keyA, "PUT", "rest/big", { value: "x".repeat(10_001) });
    expect(big).toMatchObject({ status: 413, body: { error: { code: "PAYLOAD_TOO_LARGE" } } });
    expect((await restJson(keyA, "POST", "x", { value: 1 })).status).toBe(405);
  });

  it("isolates workspaces over REST", async () => {
    await restJson(keyA, "PUT", "rest/private", { value: "a" });
    expect((await restJson(keyB, "GET", "rest/private")).status).toBe(404);
    expect((await restJson(keyB, "DELETE", "rest/private")).status).toBe(404);
    const listed = await restJson(keyB, "GET", "?prefix=rest/");
    expect(listed.body.key_values).toEqual([]);
    expect((await restJson(keyA, "GET", "rest/private")).body).toMatchObject({ value: "a" });
  });
});
