import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { RECORDED_TENANT_ID, type RecordedRequest, recordedRequests } from "../helpers/recorded.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Replays, over HTTP and byte for byte, the KV requests the real Prefect 1.4.1 client sent
 * (`prefect kv set foo '{"a": 1}'`, get, list, `delete_key("bar")`, `set_key_value("py", {...})`,
 * get, `delete_key("py")`'s lookup): requests #36-#43 of the recording (0-based). The recorded
 * `delete_key_value` names the id the client had just read for key `bar` (#39), so the replay sends
 * the id this server answered there. `bar` existed before the recording started; it is set first.
 */
const KV_FIELDS = new Set(["set_key_value", "key_value", "delete_key_value"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let runtime: LocalRuntime;
let key: string;
let tenantId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("contract-kv");
  key = runtime.bootstrap.secret ?? "";
  tenantId = runtime.bootstrap.workspace.id;
});
afterAll(async () => {
  await runtime?.stop();
});

async function replay(request: RecordedRequest, variables = request.variables) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] =
      name === "Authorization" ? `Bearer ${key}` : value.replaceAll(RECORDED_TENANT_ID, tenantId);
  }
  const response = await fetch(runtime.graphqlUrl, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: request.query, variables }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    data?: Record<string, unknown>;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
}

describe("the Prefect 1.4.1 client's KV requests", () => {
  const all = recordedRequests();
  const kv = all.filter((r) => r.rootFields.every((f) => KV_FIELDS.has(f)));

  it("are requests #36-#43 of the recording", () => {
    expect(kv.map((r) => r.index)).toEqual([36, 37, 38, 39, 40, 41, 42, 43]);
  });

  it("are answered in order with the shapes and values the client reads", async () => {
    const setBar = await client(runtime, key)(
      "mutation($input: set_key_value_input!) { set_key_value(input: $input) { id } }",
      {
        input: { key: "bar", value: "to delete" },
      },
    );
    expect(setBar.errors).toBeUndefined();

    const byIndex = new Map(kv.map((r) => [r.index, r]));
    const at = (index: number) => byIndex.get(index) as RecordedRequest;
    const bodies = new Map<number, Awaited<ReturnType<typeof replay>>>();
    let barId: string | undefined;
    for (const request of kv) {
      let variables = request.variables;
      if (request.index === 40) {
        const recorded = JSON.parse(variables) as { input: { key_value_id: string } };
        expect(barId).toMatch(UUID);
        variables = JSON.stringify({ input: { key_value_id: barId } });
        expect(recorded.input.key_value_id).toMatch(UUID);
      }
      const body = await replay(request, variables);
      expect(body.errors, `request #${request.index}: ${request.query}`).toBeUndefined();
      bodies.set(request.index, body);
      if (request.index === 39) barId = ((body.data?.key_value ?? []) as Array<{ id: string }>)[0]?.id;
    }

    // #36 `prefect kv set foo '{"a": 1}'`: the value arrives as JSON text...
    expect(JSON.parse(at(36).variables).input.value).toBe('{"a": 1}');
    const idOf = (index: number) =>
      (bodies.get(index)?.data?.set_key_value as { id?: string } | undefined)?.id;
    const fooId = idOf(36);
    expect(fooId).toMatch(UUID);
    // #37 ...and comes back as the JSON value.
    expect(bodies.get(37)?.data).toEqual({ key_value: [{ value: { a: 1 } }] });
    // #38 list_keys: every key, the client sorts them.
    const keys = ((bodies.get(38)?.data?.key_value ?? []) as Array<{ key: string }>).map((p) => p.key);
    expect(keys.sort()).toEqual(["bar", "foo"]);
    // #39 delete_key("bar") looks the id up, #40 deletes by it.
    expect(bodies.get(40)?.data).toEqual({ delete_key_value: { success: true } });
    // #41 set_key_value("py", {"x": [1, 2]}): a JSON object arrives as is, #42 returns it.
    expect(idOf(41)).toMatch(UUID);
    expect(bodies.get(42)?.data).toEqual({ key_value: [{ value: { x: [1, 2] } }] });
    // #43 the lookup before deleting "py".
    expect(bodies.get(43)?.data).toEqual({
      key_value: [{ id: idOf(41) }],
    });
  });

  it("answer delete_key's lookup of a deleted key with an empty list (the client raises its ValueError)", async () => {
    const body = await replay(kv.find((r) => r.index === 39) as RecordedRequest);
    expect(body.data).toEqual({ key_value: [] });
  });

  it("answer a delete_key_value of an id that does not exist with NOT_FOUND", async () => {
    const body = await replay(kv.find((r) => r.index === 40) as RecordedRequest);
    expect(body.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(body.data?.delete_key_value ?? null).toBeNull();
  });
});
