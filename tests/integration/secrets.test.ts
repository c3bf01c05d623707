import { GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { SecretKeys } from "#core/secret/entity.js";
import { MAX_SECRETS } from "#core/secret/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Secrets over HTTP with the documents the Prefect 1.4.1 client sends (client.py `set_secret`,
 * client/secrets.py `Secret.get()` and `Secret.exists()`), and the UI's `delete_secret`.
 */
const SET_SECRET = `mutation($input: set_secret_input!) {
    set_secret(input: $input) {
        success
    }
}`;
const SECRET_VALUE = `query($name: String!) {
        secret_value(name: $name)
}`;
const SECRET_NAMES = "query{secret_names}";
const DELETE_SECRET = `mutation DeleteSecret($name: String!) {
  delete_secret(input: { name: $name }) {
    success
  }
}`;
const AUDIT = `query { audit_entry(order_by: {at: desc}, limit: 20) { action target api_key_id at } }`;

let runtime: LocalRuntime;
let keyA: string;
let keyAId: string;
let tenantA: string;
let keyB: string;
let tenantB: string;

beforeAll(async () => {
  runtime = await startTestRuntime("secrets");
  keyA = runtime.bootstrap.secret ?? "";
  tenantA = runtime.bootstrap.workspace.id;
  keyAId = (await asTenant(tenantA, () => ApiKey.list()))[0]?.id ?? "";
  const other = await Workspace.create({ name: "Secrets other" });
  tenantB = other.id;
  keyB = (await asTenant(other.id, () => ApiKey.create({ name: "secrets-b" }))).secret;
});
afterAll(async () => {
  await runtime?.stop();
});

type Names = { secret_names: string[] };

async function storedItem(name: string) {
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: SecretKeys.item(tenantA, name) }),
  );
  return result.Item;
}

describe("secrets", () => {
  it("sets string and object values and reads them back as set (PrefectSecret's query)", async () => {
    const gql = client(runtime, keyA);
    for (const [name, value] of [
      ["API_TOKEN", "tok-123"],
      ["DB", { user: "etl", password: "hunter2", port: 5432 }],
      ["JSON_TEXT", '{"x": 42}'],
    ] as const) {
      const set = await gql(SET_SECRET, { input: { name, value } });
      expect(set.errors).toBeUndefined();
      expect(set.data).toEqual({ set_secret: { success: true } });
      expect((await gql(SECRET_VALUE, { name })).data).toEqual({ secret_value: value });
    }
    const replaced = await gql(SET_SECRET, { input: { name: "API_TOKEN", value: "tok-456" } });
    expect(replaced.errors).toBeUndefined();
    expect((await gql(SECRET_VALUE, { name: "API_TOKEN" })).data).toEqual({ secret_value: "tok-456" });
    const names = await gql<Names>(SECRET_NAMES);
    expect(names.data?.secret_names).toEqual(["API_TOKEN", "DB", "JSON_TEXT"]);
  });

  it("stores values sealed: no plaintext in the item, and a value moved to another name does not open", async () => {
    const gql = client(runtime, keyA);
    await gql(SET_SECRET, { input: { name: "SEALED", value: { password: "plain-text-marker" } } });
    const item = await storedItem("SEALED");
    expect(item).toBeDefined();
    expect(JSON.stringify(item)).not.toContain("plain-text-marker");
    expect(item?.sealed).toMatchObject({ v: 1, key: { kind: "local" } });

    // Copy the sealed value onto another secret's item: authenticated as (tenant, name), it fails.
    await gql(SET_SECRET, { input: { name: "OTHER", value: "x" } });
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: SecretKeys.item(tenantA, "OTHER"),
        UpdateExpression: "SET sealed = :sealed",
        ExpressionAttributeValues: { ":sealed": item?.sealed },
      }),
    );
    const moved = await gql(SECRET_VALUE, { name: "OTHER" });
    expect(moved.errors?.[0]?.extensions?.code).toBe("FAILED_PRECONDITION");
    expect(moved.errors?.[0]?.message).toMatch(/cannot be opened/);
    expect(moved.errors?.[0]?.message).not.toContain("plain-text-marker");
  });

  it("answers a missing secret with the message the client turns into KeyError", async () => {
    const missing = await client(runtime, keyA)(SECRET_VALUE, { name: "NOPE" });
    expect(missing.data?.secret_value ?? null).toBeNull();
    expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(missing.errors?.[0]?.message).toContain("No value found for the requested key");
  });

  it("refuses bad input with BAD_USER_INPUT and stores nothing", async () => {
    const gql = client(runtime, keyA);
    const before = (await gql<Names>(SECRET_NAMES)).data?.secret_names;
    const cases: unknown[] = [
      { name: "", value: "x" },
      { name: " padded", value: "x" },
      { name: "x".repeat(256), value: "x" },
      { name: "BIG", value: "x".repeat(33 * 1024) },
      { name: "DEEP", value: JSON.parse(`${"[".repeat(80)}${"]".repeat(80)}`) },
    ];
    for (const input of cases) {
      const refused = await gql(SET_SECRET, { input });
      expect(refused.errors?.[0]?.extensions?.code, JSON.stringify(input).slice(0, 80)).toBe(
        "BAD_USER_INPUT",
      );
    }
    const nullValue = await gql(SET_SECRET, { input: { name: "NULL", value: null } });
    expect(nullValue.errors?.length).toBeGreaterThan(0);
    expect(nullValue.errors?.[0]?.message).not.toMatch(/Unexpected error/);
    expect((await gql<Names>(SECRET_NAMES)).data?.secret_names).toEqual(before);
  });

  it("deletes a secret; deleting an unknown one answers NOT_FOUND", async () => {
    const gql = client(runtime, keyA);
    await gql(SET_SECRET, { input: { name: "TEMP", value: "t" } });
    expect((await gql(DELETE_SECRET, { name: "TEMP" })).data).toEqual({ delete_secret: { success: true } });
    expect((await gql(SECRET_VALUE, { name: "TEMP" })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const again = await gql(DELETE_SECRET, { name: "TEMP" });
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect((await gql<Names>(SECRET_NAMES)).data?.secret_names).not.toContain("TEMP");
  });

  it("keeps workspaces apart: another workspace neither reads, lists, replaces nor deletes", async () => {
    const a = client(runtime, keyA);
    const b = client(runtime, keyB);
    await a(SET_SECRET, { input: { name: "MINE", value: "a-only" } });
    expect((await b(SECRET_VALUE, { name: "MINE" })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect((await b<Names>(SECRET_NAMES)).data?.secret_names).toEqual([]);
    expect((await b(DELETE_SECRET, { name: "MINE" })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    await b(SET_SECRET, { input: { name: "MINE", value: "b's own" } });
    expect((await a(SECRET_VALUE, { name: "MINE" })).data).toEqual({ secret_value: "a-only" });
    expect((await b(SECRET_VALUE, { name: "MINE" })).data).toEqual({ secret_value: "b's own" });
  });

  it("records every set, read and delete in the audit log, with the key that did it", async () => {
    const gql = client(runtime, keyA);
    await gql(SET_SECRET, { input: { name: "AUDITED", value: "v" } });
    await gql(SECRET_VALUE, { name: "AUDITED" });
    await gql(DELETE_SECRET, { name: "AUDITED" });
    const log = await gql<{ audit_entry: Array<{ action: string; target: string; api_key_id: string }> }>(
      AUDIT,
    );
    expect(log.errors).toBeUndefined();
    const mine = (log.data?.audit_entry ?? []).filter((e) => e.target === "AUDITED");
    expect(mine.map((e) => e.action)).toEqual(["secret.delete", "secret.read", "secret.set"]);
    for (const e of mine) expect(e.api_key_id).toBe(keyAId);
    // The other workspace's log holds none of it.
    const other = await client(runtime, keyB)<{ audit_entry: Array<{ target: string }> }>(AUDIT);
    expect((other.data?.audit_entry ?? []).some((e) => e.target === "AUDITED")).toBe(false);
  });

  it("stops at the workspace's secret count with LIMIT_EXCEEDED; replacing one still works", async () => {
    const gql = client(runtime, keyB);
    const before = (await gql<Names>(SECRET_NAMES)).data?.secret_names ?? [];
    // Bring the count item to the limit rather than writing a thousand secrets.
    await useDynamo().send(
      new PutCommand({
        TableName: mainTable(),
        Item: { ...SecretKeys.count(tenantB), entity: "secret-count", secrets: MAX_SECRETS },
      }),
    );
    const refused = await gql(SET_SECRET, { input: { name: "ONE_TOO_MANY", value: "x" } });
    expect(refused.errors?.[0]?.extensions?.code).toBe("LIMIT_EXCEEDED");
    expect((await gql<Names>(SECRET_NAMES)).data?.secret_names).toEqual(before);
    expect((await gql(SET_SECRET, { input: { name: "MINE", value: "replaced" } })).errors).toBeUndefined();
  });
});
