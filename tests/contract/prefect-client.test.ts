import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { RECORDED_TENANT_ID, type RecordedRequest, recordedRequests } from "../helpers/recorded.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * Replays, over HTTP and byte for byte (headers, query text, variables as a JSON string), the
 * requests the real Prefect 1.4.1 client sent, for the operations this API serves so far, and
 * checks each response has the shape the client reads.
 */
const SERVED = new Set(["auth_info", "tenant", "hello", "api", "create_project", "project"]);

let runtime: LocalRuntime;
let key: string;
let tenantId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("contract");
  key = runtime.bootstrap.secret ?? "";
  tenantId = runtime.bootstrap.workspace.id;
});
afterAll(async () => {
  await runtime?.stop();
});

async function replay(request: RecordedRequest) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] =
      name === "Authorization" ? `Bearer ${key}` : value.replaceAll(RECORDED_TENANT_ID, tenantId);
  }
  const response = await fetch(runtime.graphqlUrl, {
    method: "POST",
    headers,
    body: JSON.stringify({
      query: request.query.replaceAll(RECORDED_TENANT_ID, tenantId),
      variables: request.variables.replaceAll(RECORDED_TENANT_ID, tenantId),
    }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { data?: Record<string, unknown>; errors?: Array<{ message: string }> };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("the Prefect 1.4.1 client's requests", () => {
  const requests = recordedRequests().filter((r) => r.rootFields.every((f) => SERVED.has(f)));

  it("include every operation this API serves so far", () => {
    const seen = new Set(requests.flatMap((r) => r.rootFields));
    expect([...seen].sort()).toEqual(["auth_info", "create_project", "hello", "project", "tenant"]);
  });

  it("are answered in order with the shapes the client reads", async () => {
    let projectId: string | undefined;
    for (const request of requests) {
      const body = await replay(request);
      expect(body.errors, `request #${request.index}: ${request.query}`).toBeUndefined();
      const data = body.data ?? {};
      for (const field of request.rootFields) {
        switch (field) {
          case "auth_info":
            expect(data.auth_info).toEqual({ tenant_id: tenantId });
            break;
          case "tenant":
            expect(data.tenant).toEqual([expect.objectContaining({ id: tenantId, slug: "default" })]);
            break;
          case "hello":
            expect(typeof data.hello).toBe("string");
            break;
          case "create_project":
            projectId = (data.create_project as { id: string }).id;
            expect(projectId).toMatch(UUID);
            break;
          case "project":
            expect(data.project).toEqual([{ id: projectId }]);
            break;
        }
      }
    }
    expect(projectId).toBeDefined();
  });

  it("answer a repeated create_project with exactly `Uniqueness violation.`", async () => {
    const create = requests.find((r) => r.rootFields[0] === "create_project");
    expect(create).toBeDefined();
    const body = await replay(create as RecordedRequest);
    expect(body.errors?.[0]?.message).toBe("Uniqueness violation.");
  });
});
