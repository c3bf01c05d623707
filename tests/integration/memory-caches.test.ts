import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authenticator } from "#core/auth/authenticator.js";
import { type CacheStats, cacheStats } from "#core/cache.js";
import { ApiKey, asTenant } from "#core/index.js";
import { DOCUMENT_CACHE, PARSE_ERROR_CACHE } from "../../functions/api/src/yoga.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Every in-process cache is bounded (issue #14, "memory stays flat"): whatever distinct query
 * texts and credentials callers send, each cache stays within its entries and bytes, read through
 * core's `cacheStats()`.
 */
let runtime: LocalRuntime;
let key: string;
let tenantId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("memory");
  key = runtime.bootstrap.secret ?? "";
  tenantId = runtime.bootstrap.workspace.id;
});

afterAll(async () => {
  await runtime?.stop();
});

function stats(name: string): CacheStats[] {
  return cacheStats().filter((s) => s.name === name);
}

function expectWithinBounds(name: string): CacheStats[] {
  const found = stats(name);
  expect(found.length, `cache ${name} is registered`).toBeGreaterThan(0);
  for (const s of found) {
    expect(s.entries).toBeLessThanOrEqual(s.maxEntries);
    expect(s.bytes).toBeLessThanOrEqual(s.maxBytes);
  }
  return found;
}

async function post(query: string, bearer = key): Promise<{ status: number; body: string }> {
  const response = await fetch(runtime.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: await response.text() };
}

/** Runs `count` requests, `concurrency` at a time. */
async function inBatches(count: number, concurrency: number, send: (i: number) => Promise<void>) {
  for (let i = 0; i < count; i += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, count - i) }, (_, j) => send(i + j)));
  }
}

describe("GraphQL document caches", () => {
  it("keep at most DOCUMENT_CACHE.maxEntries parsed documents however many distinct texts arrive", async () => {
    await inBatches(DOCUMENT_CACHE.maxEntries + 100, 16, async (i) => {
      const response = await post(`query Distinct${i} { __typename }`);
      expect(response.body).toContain("Query");
    });
    const [documents] = expectWithinBounds("graphql.documents");
    expect(documents?.maxEntries).toBe(DOCUMENT_CACHE.maxEntries);
    expect(documents?.maxBytes).toBe(DOCUMENT_CACHE.maxBytes);
    // Full: the bound, not a lack of distinct texts, is what stopped it.
    expect(documents?.entries).toBe(DOCUMENT_CACHE.maxEntries);
  }, 180_000);

  it("keep at most DOCUMENT_CACHE.maxBytes, counting large texts by their size", async () => {
    // Each text is ~200,000 characters: a few of them fill the byte bound long before the entry bound.
    const padding = "x".repeat(200_000);
    for (let i = 0; i < 12; i++) {
      const response = await post(`query Large${i} { __typename } # ${i} ${padding}`);
      expect(response.body).toContain("Query");
    }
    const [documents] = expectWithinBounds("graphql.documents");
    expect(documents?.bytes).toBeGreaterThan(DOCUMENT_CACHE.maxBytes / 2);
    expect(documents?.entries).toBeLessThan(DOCUMENT_CACHE.maxEntries);
  });

  it("keep at most PARSE_ERROR_CACHE.maxEntries parse errors", async () => {
    await inBatches(PARSE_ERROR_CACHE.maxEntries + 50, 16, async (i) => {
      const response = await post(`query { broken${i} (`);
      expect(response.body).toContain("GRAPHQL_PARSE_FAILED");
    });
    const [errors] = expectWithinBounds("graphql.parse-errors");
    expect(errors?.entries).toBe(PARSE_ERROR_CACHE.maxEntries);
  }, 60_000);
});

describe("API key cache", () => {
  it("never keeps a refused key", async () => {
    const before = stats("auth.principals").reduce((sum, s) => sum + s.entries, 0);
    await inBatches(40, 8, async (i) => {
      const response = await post("{ __typename }", `drv_unknown_key_${i}_${"z".repeat(40)}`);
      expect(response.body).toContain("UNAUTHENTICATED");
    });
    const after = stats("auth.principals").reduce((sum, s) => sum + s.entries, 0);
    expect(after).toBeLessThanOrEqual(before);
    expectWithinBounds("auth.principals");
  });

  it("keeps at most its bound of valid keys, by entries and by bytes, and still resolves evicted ones", async () => {
    const secrets: string[] = [];
    for (let i = 0; i < 12; i++) {
      secrets.push((await asTenant(tenantId, () => ApiKey.create({ name: `memory-${i}` }))).secret);
    }
    const byEntries = new Authenticator(60_000, { maxEntries: 5 });
    const byBytes = new Authenticator(60_000, { maxBytes: 1000 });
    for (const secret of secrets) {
      for (const authenticator of [byEntries, byBytes]) {
        const actor = await authenticator.resolve({ authorization: `Bearer ${secret}` });
        expect(actor).toMatchObject({ type: "tenant", tenantId });
      }
    }
    const [entries, bytes] = stats("auth.principals").filter(
      (s) => s.maxEntries === 5 || s.maxBytes === 1000,
    );
    expect(entries).toMatchObject({ entries: 5, maxEntries: 5 });
    expect(bytes?.bytes).toBeLessThanOrEqual(1000);
    expect(bytes?.entries).toBeGreaterThan(0);
    expect(bytes?.entries).toBeLessThan(5);
    // The first key was evicted long ago: resolved again from storage.
    expect(await byEntries.resolve({ authorization: `Bearer ${secrets[0]}` })).toMatchObject({ tenantId });
  });
});

describe("run log caches", () => {
  it("remember the runs and retention of workspaces writing logs, within bounds", async () => {
    const gql = client(runtime, key);
    const project = await gql<{ create_project: { id: string } }>(
      "mutation($i: create_project_input!) { create_project(input: $i) { id } }",
      { i: { name: "memory" } },
    );
    const flow = await gql<{ create_flow: { id: string } }>(
      "mutation($i: create_flow_input!) { create_flow(input: $i) { id } }",
      {
        i: {
          project_id: project.data?.create_project.id,
          serialized_flow: {
            name: "memory",
            type: "prefect.core.flow.Flow",
            parameters: [],
            tasks: [{ slug: "a-1", name: "a", type: "prefect.tasks.core.function.FunctionTask" }],
            edges: [],
            run_config: { type: "UniversalRun", labels: [] },
            __version__: "1.4.1",
          },
        },
      },
    );
    for (let i = 0; i < 5; i++) {
      const run = await gql<{ create_flow_run: { id: string } }>(
        "mutation($i: create_flow_run_input!) { create_flow_run(input: $i) { id } }",
        { i: { flow_id: flow.data?.create_flow.id } },
      );
      const written = await gql<{ write_run_logs: { success: boolean } }>(
        "mutation($i: write_run_logs_input!) { write_run_logs(input: $i) { success } }",
        {
          i: {
            logs: [
              {
                flow_run_id: run.data?.create_flow_run.id,
                timestamp: new Date().toISOString(),
                level: "INFO",
                name: "memory",
                message: `line ${i}`,
              },
            ],
          },
        },
      );
      expect(written.data?.write_run_logs.success).toBe(true);
    }
    const [runs] = expectWithinBounds("log.runs");
    expect(runs?.entries).toBeGreaterThanOrEqual(5);
    // The consumer reads the workspace's retention when it stores the lines.
    const deadline = Date.now() + 20_000;
    while (!stats("log.retention").some((s) => s.entries > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(expectWithinBounds("log.retention")[0]?.entries).toBeGreaterThan(0);
    expectWithinBounds("task-run.owners");
  });
});
