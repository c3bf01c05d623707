import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configure } from "#core/config.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime("masking");
});
afterAll(async () => {
  configure(runtime.config);
  await runtime?.stop();
});

describe("an unexpected failure inside a resolver", () => {
  it("is answered as 'Unexpected error.' with INTERNAL_SERVER_ERROR, no internals, and the API keeps working", async () => {
    const api = client(runtime, runtime.bootstrap.secret);
    expect((await api("query { auth_info { tenant_id } }")).errors).toBeUndefined(); // key now cached
    // Storage breaks under the resolver: its table is gone.
    configure({
      ...runtime.config,
      tables: { ...runtime.config.tables, main: "drover-table-that-does-not-exist" },
    });
    const res = await api("query { project { id name } }");
    configure(runtime.config);
    expect(res.status).toBe(200);
    expect(res.errors?.[0]?.message).toBe("Unexpected error.");
    expect(res.errors?.[0]?.extensions?.code).toBe("INTERNAL_SERVER_ERROR");
    const text = JSON.stringify(res);
    expect(text).not.toMatch(/ResourceNotFound|drover-table-that-does-not-exist|\.ts:\d+/);
    expect((await api("query { project { id } }")).errors).toBeUndefined();
  });
});
