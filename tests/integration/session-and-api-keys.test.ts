import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signSessionToken } from "#core/auth/session-token.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

let runtime: LocalRuntime;
let keyA: string;
let tenantA: string;
let tenantB: string;
let keyB: string;

const SESSION = "mutation { create_session_token { token expires_at tenant_id api_key_id } }";
const WHO = "query { auth_info { tenant_id api_key_id } }";
const KEYS = "query { api_key { id name prefix status expires_at revoked_at } }";
const CREATE_KEY =
  "mutation($input: create_api_key_input!) { create_api_key(input: $input) { id key api_key { name status } } }";
const REVOKE_KEY = "mutation($id: uuid!) { revoke_api_key(input: { key_id: $id }) { id status revoked_at } }";

type Session = { token: string; expires_at: string; tenant_id: string; api_key_id: string };

async function session(key: string, variables?: unknown): Promise<Session> {
  const response = await client(runtime, key)<{ create_session_token: Session }>(SESSION, variables);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.create_session_token;
}

function secret(): string {
  return runtime.config.sessionSecret ?? "";
}

beforeAll(async () => {
  runtime = await startTestRuntime("session");
  keyA = runtime.bootstrap.secret ?? "";
  tenantA = runtime.bootstrap.workspace.id;
  const b = await Workspace.create({ name: "Session B" });
  tenantB = b.id;
  keyB = (await asTenant(b.id, () => ApiKey.create({ name: "b" }))).secret;
});

afterAll(async () => {
  await runtime?.stop();
});

describe("session tokens", () => {
  it("exchanges an API key for a token that acts as that key for an hour", async () => {
    const created = await session(keyA);
    expect(created.tenant_id).toBe(tenantA);
    expect(Date.parse(created.expires_at) - Date.now()).toBeGreaterThan(3590_000);
    expect(Date.parse(created.expires_at) - Date.now()).toBeLessThanOrEqual(3600_000);
    const who = await client(runtime, created.token)(WHO);
    expect(who.data).toEqual({ auth_info: { tenant_id: tenantA, api_key_id: created.api_key_id } });
  });

  it("never lets a session create another session", async () => {
    const created = await session(keyA);
    const again = await client(runtime, created.token)(SESSION);
    expect(again.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  it("refuses garbage, foreign-signed, expired and tampered tokens as UNAUTHENTICATED", async () => {
    const created = await session(keyA);
    const apiKeyId = created.api_key_id;
    const [header, payload, signature] = created.token.split(".");
    const tampered = JSON.parse(Buffer.from(payload ?? "", "base64url").toString()) as Record<
      string,
      unknown
    >;
    tampered.tid = tenantB;
    const forged = `${header}.${Buffer.from(JSON.stringify(tampered)).toString("base64url")}.${signature}`;
    const tokens = [
      "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
      "eyJnYXJiYWdl.x.y",
      forged,
      await signSessionToken(
        "another-secret-of-at-least-32-chars!!",
        { tenantId: tenantA, apiKeyId },
        new Date(Date.now() + 60_000),
      ),
      await signSessionToken(secret(), { tenantId: tenantA, apiKeyId }, new Date(Date.now() - 1000)),
    ];
    for (const token of tokens) {
      const response = await client(runtime, token)(WHO);
      expect(response.errors?.[0]?.extensions?.code, token).toBe("UNAUTHENTICATED");
    }
  });

  it("is scoped to its key's workspace: a token naming another workspace is refused", async () => {
    const created = await session(keyA);
    const crossed = await signSessionToken(
      secret(),
      { tenantId: tenantB, apiKeyId: created.api_key_id },
      new Date(Date.now() + 60_000),
    );
    expect((await client(runtime, crossed)(WHO)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const header = await client(runtime, created.token, { "x-prefect-tenant-id": tenantB })(WHO);
    expect(header.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("stops working within seconds of its key's revocation", async () => {
    const key = await asTenant(tenantA, () => ApiKey.create({ name: "to revoke" }));
    const created = await session(key.secret);
    expect((await client(runtime, created.token)(WHO)).data).toBeTruthy();
    await asTenant(tenantA, () => ApiKey.revoke(key.id));
    const revokedAt = Date.now();
    await expect
      .poll(async () => (await client(runtime, created.token)(WHO)).errors?.[0]?.extensions?.code, {
        timeout: runtime.config.authCacheMs + 3000,
        interval: 100,
      })
      .toBe("UNAUTHENTICATED");
    expect(Date.now() - revokedAt).toBeLessThan(runtime.config.authCacheMs + 1000);
  });

  it("never outlives its key's expiry and bounds the requested lifetime", async () => {
    const expiresAt = new Date(Date.now() + 5 * 60_000).toISOString();
    const key = await asTenant(tenantA, () => ApiKey.create({ name: "short", expires_at: expiresAt }));
    const created = await session(key.secret);
    expect(Date.parse(created.expires_at)).toBeLessThanOrEqual(Date.parse(expiresAt));
    const SESSION_TTL =
      "mutation($ttl: Int) { create_session_token(input: { ttl_seconds: $ttl }) { expires_at } }";
    for (const ttl of [10, 86_400]) {
      const response = await client(runtime, keyA)(SESSION_TTL, { ttl });
      expect(response.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    }
  });
});

describe("API keys over GraphQL", () => {
  it("creates a key, returning its secret once, and lists it without secret or hash", async () => {
    const api = client(runtime, keyA);
    const created = await api<{ create_api_key: { id: string; key: string; api_key: unknown } }>(CREATE_KEY, {
      input: { name: "graphql key" },
    });
    const made = created.data?.create_api_key;
    expect(made?.key).toMatch(/^drv_/);
    expect(made?.api_key).toEqual({ name: "graphql key", status: "ACTIVE" });
    const listed = await api<{ api_key: Array<{ id: string; name: string; prefix: string }> }>(KEYS);
    const text = JSON.stringify(listed);
    expect(text).not.toContain(made?.key ?? "-");
    expect(listed.data?.api_key.find((k) => k.id === made?.id)?.prefix).toBe(made?.key.slice(0, 8));
    const introspection = await api(`{ __type(name: "api_key") { fields { name } } }`);
    expect(JSON.stringify(introspection)).not.toMatch(/secret|hash/);
  });

  it("revokes a key of the workspace, and only of the workspace", async () => {
    const api = client(runtime, keyA);
    const created = await api<{ create_api_key: { id: string; key: string } }>(CREATE_KEY, {
      input: { name: "revoke me" },
    });
    const id = created.data?.create_api_key.id;
    const fromB = await client(runtime, keyB)(REVOKE_KEY, { id });
    expect(fromB.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const revoked = await api<{ revoke_api_key: { status: string; revoked_at: string } }>(REVOKE_KEY, { id });
    expect(revoked.data?.revoke_api_key.status).toBe("REVOKED");
    const filtered = await api<{ api_key: unknown[] }>(
      `query { api_key(where: { status: { _eq: "REVOKED" } }) { id } }`,
    );
    expect(filtered.data?.api_key).toContainEqual({ id });
  });

  it("lists only the caller's workspace keys", async () => {
    const listed = await client(runtime, keyB)<{ api_key: Array<{ name: string }> }>(KEYS);
    expect(listed.data?.api_key.map((k) => k.name)).toEqual(["b"]);
  });

  it("sets and clears a key's expiry", async () => {
    const api = client(runtime, keyA);
    const created = await api<{ create_api_key: { id: string; key: string } }>(CREATE_KEY, {
      input: { name: "expiring" },
    });
    const id = created.data?.create_api_key.id;
    const EXPIRE =
      "mutation($input: expire_api_key_input!) { expire_api_key(input: $input) { status expires_at } }";
    const now = await api<{ expire_api_key: { status: string } }>(EXPIRE, { input: { key_id: id } });
    expect(now.data?.expire_api_key.status).toBe("EXPIRED");
    const cleared = await api<{ expire_api_key: unknown }>(EXPIRE, {
      input: { key_id: id, expires_at: null },
    });
    expect(cleared.data?.expire_api_key).toEqual({ status: "ACTIVE", expires_at: null });
  });
});
