import { ProvisionedThroughputExceededException } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { configure } from "#core/config.js";
import { UNAVAILABLE_MESSAGE } from "#core/errors.js";
import { ApiKey, asTenant } from "#core/index.js";
import { handler as apiHandler } from "../../functions/api/src/handler.js";
import { freePort } from "../../local/src/ports.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { createProject, createRun, pipelineFlow, registerFlow } from "../helpers/orchestration.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Storage unavailable or throttled is answered with HTTP 503 and API_ERROR (both of which the
 * Prefect 1.4.1 client retries), on GraphQL, on the KV REST face and while authenticating; bugs
 * are logged with request id, tenant and stack and answered "Unexpected error." with that id.
 */
let runtime: LocalRuntime;
let tenantId: string;
let freshKey: string;

beforeAll(async () => {
  runtime = await startTestRuntime("outage-errors");
  tenantId = runtime.bootstrap.workspace.id;
  freshKey = (await asTenant(tenantId, () => ApiKey.create({ name: "never used before the outage" }))).secret;
});
afterEach(() => {
  vi.restoreAllMocks();
  configure(runtime.config);
});
afterAll(async () => {
  configure(runtime.config);
  await runtime?.stop();
});

const INTERNALS = /ECONNREFUSED|127\.0\.0\.1|ProvisionedThroughput|Exception|\.ts:\d+|at [A-Za-z]/;

/** Points storage at a loopback port nothing listens on: every DynamoDB call is refused. */
async function refuseStorage() {
  configure({ ...runtime.config, dynamoEndpoint: `http://127.0.0.1:${await freePort()}` });
}

function rest(key: string, method: string, path: string, body?: unknown) {
  return fetch(`${runtime.url}/kv/${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe("DynamoDB refusing connections", () => {
  it("answers GraphQL queries and mutations with HTTP 503 and API_ERROR, no internals, then recovers", async () => {
    const api = client(runtime, runtime.bootstrap.secret);
    expect((await api("query { auth_info { tenant_id } }")).errors).toBeUndefined(); // key cached
    await refuseStorage();
    const read = await api("query { project { id name } }");
    const write = await api(
      "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
      {
        input: { name: "during the outage" },
      },
    );
    configure(runtime.config);
    for (const res of [read, write]) {
      expect(res.status).toBe(503);
      expect(res.errors?.[0]?.extensions?.code).toBe("API_ERROR");
      expect(res.errors?.[0]?.message).toBe(UNAVAILABLE_MESSAGE);
      expect(JSON.stringify(res)).not.toMatch(INTERNALS);
    }
    const after = await api("query { project { id name } }");
    expect(after.status).toBe(200);
    expect(after.errors).toBeUndefined();
  });

  it("answers an API key that is not cached yet with 503 API_ERROR, not a 500 or UNAUTHENTICATED", async () => {
    await refuseStorage();
    const res = await client(runtime, freshKey)("query { auth_info { tenant_id } }");
    configure(runtime.config);
    expect(res.status).toBe(503);
    expect(res.errors?.[0]?.extensions?.code).toBe("API_ERROR");
    expect(JSON.stringify(res)).not.toMatch(INTERNALS);
    const after = await client(runtime, freshKey)("query { auth_info { tenant_id } }");
    expect(after.data).toEqual({ auth_info: { tenant_id: tenantId } });
  });

  it("answers the KV REST face with 503, API_ERROR and Retry-After, for reads, writes and an uncached key", async () => {
    const key = runtime.bootstrap.secret ?? "";
    expect((await rest(key, "PUT", "outage/a", { value: 1 })).status).toBe(201);
    const other = (await asTenant(tenantId, () => ApiKey.create({ name: "kv fresh" }))).secret;
    await refuseStorage();
    const responses = [
      await rest(key, "GET", "outage/a"),
      await rest(key, "PUT", "outage/a", { value: 2 }),
      await rest(other, "GET", "outage/a"),
    ];
    configure(runtime.config);
    for (const response of responses) {
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("2");
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("API_ERROR");
      expect(JSON.stringify(body)).not.toMatch(INTERNALS);
    }
    const after = await rest(key, "GET", "outage/a");
    expect(((await after.json()) as { value: unknown }).value).toBe(1);
  });
});

describe("SQS refusing connections", () => {
  it("answers write_run_logs with 503 API_ERROR, acknowledging nothing", async () => {
    const api = client(runtime, runtime.bootstrap.secret);
    const projectId = await createProject(api, "logs during an SQS outage");
    const flowId = await registerFlow(api, projectId, pipelineFlow("sqs-outage"));
    const flowRunId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    configure({ ...runtime.config, sqsEndpoint: `http://127.0.0.1:${await freePort()}` });
    const res = await api(
      "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
      {
        input: {
          logs: [
            {
              flow_run_id: flowRunId,
              task_run_id: null,
              timestamp: new Date().toISOString(),
              name: "prefect.CloudFlowRunner",
              level: "INFO",
              message: "while SQS is down",
            },
          ],
        },
      },
    );
    configure(runtime.config);
    expect(res.status).toBe(503);
    expect(res.errors?.[0]?.extensions?.code).toBe("API_ERROR");
    expect(res.data?.write_run_logs ?? null).toBeNull();
    expect(JSON.stringify(res)).not.toMatch(INTERNALS);
  });
});

describe("DynamoDB throttling", () => {
  it("answers a ProvisionedThroughputExceededException left after the SDK's retries with 503 API_ERROR", async () => {
    const api = client(runtime, runtime.bootstrap.secret);
    expect((await api("query { auth_info { tenant_id } }")).errors).toBeUndefined();
    vi.spyOn(DynamoDBDocumentClient.prototype, "send").mockRejectedValue(
      new ProvisionedThroughputExceededException({ message: "Rate of requests exceeds", $metadata: {} }),
    );
    const res = await api("query { project { id } }");
    expect(res.status).toBe(503);
    expect(res.errors?.[0]?.extensions?.code).toBe("API_ERROR");
    expect(JSON.stringify(res)).not.toMatch(INTERNALS);
  });
});

describe("an unexpected error", () => {
  it("is logged with request id, tenant and stack, and answered 'Unexpected error.' with the request id only", async () => {
    const api = client(runtime, runtime.bootstrap.secret);
    expect((await api("query { auth_info { tenant_id } }")).errors).toBeUndefined();
    const logged: string[] = [];
    const stderr = process.stderr.write.bind(process.stderr);
    vi.spyOn(process.stderr, "write").mockImplementation(((
      chunk: string | Uint8Array,
      ...rest: unknown[]
    ) => {
      logged.push(String(chunk));
      return (stderr as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write);
    vi.spyOn(DynamoDBDocumentClient.prototype, "send").mockRejectedValue(
      new Error("internal detail: secret-column-name"),
    );
    const res = await api<{ project: unknown }>("query { project { id } }");
    vi.restoreAllMocks();
    expect(res.status).toBe(200);
    const error = res.errors?.[0] as { message: string; extensions?: Record<string, unknown> } | undefined;
    expect(error?.message).toBe("Unexpected error.");
    expect(error?.extensions?.code).toBe("INTERNAL_SERVER_ERROR");
    const requestId = error?.extensions?.request_id;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(res)).not.toContain("secret-column-name");
    const entry = logged
      .flatMap((chunk) => chunk.split("\n"))
      .filter((line) => line.includes(String(requestId)))
      .map((line) => JSON.parse(line) as Record<string, unknown>)[0];
    expect(entry).toMatchObject({ level: "ERROR", request_id: requestId, tenant_id: tenantId });
    expect(JSON.stringify(entry?.error)).toContain("secret-column-name");
    expect(JSON.stringify(entry?.error)).toMatch(/stack|at /);
  });

  it("on the KV REST face is a 500 with the request id, logged with tenant and stack", async () => {
    const logged = captureStderr();
    vi.spyOn(DynamoDBDocumentClient.prototype, "send").mockRejectedValue(new Error("kv secret detail"));
    const response = await rest(runtime.bootstrap.secret ?? "", "GET", "some/key");
    vi.restoreAllMocks();
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; message: string; request_id: string } };
    expect(body.error).toMatchObject({ code: "INTERNAL_SERVER_ERROR", message: "Unexpected error." });
    expect(JSON.stringify(body)).not.toContain("kv secret detail");
    const entry = entryFor(logged, body.error.request_id);
    expect(entry).toMatchObject({
      service: "drover-kv",
      request_id: body.error.request_id,
      tenant_id: tenantId,
    });
    expect(JSON.stringify(entry.error)).toContain("kv secret detail");
  });

  it("on Lambda is logged with API Gateway's request id and the invocation's awsRequestId", async () => {
    const logged = captureStderr();
    vi.spyOn(DynamoDBDocumentClient.prototype, "send").mockRejectedValue(new Error("lambda secret detail"));
    const result = await apiHandler(
      {
        version: "2.0",
        rawPath: "/graphql",
        rawQueryString: "",
        headers: { authorization: `Bearer ${freshKey}`, "content-type": "application/json" },
        requestContext: { http: { method: "POST" }, requestId: "apigw-request-1" },
        body: JSON.stringify({ query: "query { project { id } }" }),
        isBase64Encoded: false,
      } as never,
      { awsRequestId: "lambda-invocation-1" },
    );
    vi.restoreAllMocks();
    expect(result.statusCode).toBe(200);
    const body = JSON.parse(String(result.body)) as {
      errors: Array<{ message: string; extensions: unknown }>;
    };
    expect(body.errors[0]).toMatchObject({
      message: "Unexpected error.",
      extensions: { code: "INTERNAL_SERVER_ERROR", request_id: "apigw-request-1" },
    });
    expect(entryFor(logged, "apigw-request-1")).toMatchObject({
      request_id: "apigw-request-1",
      aws_request_id: "lambda-invocation-1",
    });
  });
});

function captureStderr(): string[] {
  const logged: string[] = [];
  const stderr = process.stderr.write.bind(process.stderr);
  vi.spyOn(process.stderr, "write").mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    logged.push(String(chunk));
    return (stderr as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write);
  return logged;
}

function entryFor(logged: string[], requestId: string): Record<string, unknown> {
  const entry = logged
    .flatMap((chunk) => chunk.split("\n"))
    .filter((line) => line.includes(requestId))
    .map((line) => JSON.parse(line) as Record<string, unknown>)[0];
  if (!entry) throw new Error(`nothing logged with request id ${requestId}`);
  return entry;
}
