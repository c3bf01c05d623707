import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/src/runtime.js";
import { client } from "../helpers/runtime.js";

/**
 * The local runtime supervises its DynamoDB Local: a SIGKILLed java process is restarted on the
 * same port and data folder (what was written before is still there), the API answers a
 * retryable 503 meanwhile, and when it cannot be brought back the runtime gives up loudly.
 */
let dataDir: string;
let runtime: LocalRuntime;
const logs: string[] = [];
let fatal: Error | undefined;
let blocker: Server | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "drover-supervision-"));
  runtime = await startLocalRuntime({
    host: "127.0.0.1",
    port: 0,
    dataDir,
    namePrefix: "supervision",
    schedulerIntervalMs: 60_000,
    // 3 s down on the first death (long enough to see the 503), 1 s on the next; give up after 2.
    dynamoSupervision: { restartDelaysMs: [3_000, 1_000], maxRestarts: 2, stableMs: 10 * 60_000 },
    log: (message) => logs.push(message),
    onFatal: (error) => {
      fatal = error;
    },
  });
});

afterAll(async () => {
  blocker?.close();
  await runtime?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function until(condition: () => boolean, deadlineMs: number, what: string) {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function kv(method: string, key: string, body?: unknown) {
  return fetch(`${runtime.url}/kv/${key}`, {
    method,
    headers: { authorization: `Bearer ${runtime.bootstrap.secret}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Listens on `port` on loopback as soon as the killed java has released it. */
async function holdPort(port: number, deadlineMs: number): Promise<Server> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const server = createServer();
    const error = await new Promise<Error | undefined>((resolve) => {
      server.once("error", resolve);
      server.listen(port, "127.0.0.1", () => resolve(undefined));
    });
    if (!error) return server;
    if (Date.now() > deadline) throw error;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("DynamoDB Local supervision", () => {
  it("restarts a killed DynamoDB Local on the same port and data folder, answering 503 meanwhile", async () => {
    const dynamo = runtime.dynamoDbLocal;
    if (!dynamo) throw new Error("the runtime should have started its own DynamoDB Local");
    const api = client(runtime, runtime.bootstrap.secret);
    const project = await api<{ create_project: { id: string } }>(
      'mutation { create_project(input: { name: "kept" }) { id } }',
    );
    expect(project.errors).toBeUndefined();
    expect((await kv("PUT", "kept/value", { value: { n: 42 } })).status).toBe(201);

    const pid = dynamo.pid();
    process.kill(pid ?? 0, "SIGKILL");
    await until(() => dynamo.pid() === undefined, 10_000, "the java process to die");
    const during = await kv("GET", "kept/value");
    expect(during.status).toBe(503);
    expect(((await during.json()) as { error: { code: string } }).error.code).toBe("API_ERROR");
    const duringGraphql = await api("query { project { id } }");
    expect(duringGraphql.status).toBe(503);

    await until(() => dynamo.restarts() === 1, 60_000, "the supervisor to restart DynamoDB Local");
    expect(dynamo.pid()).not.toBe(pid);
    expect(dynamo.endpoint).toBe(runtime.dynamoEndpoint);
    const after = await kv("GET", "kept/value");
    expect(after.status).toBe(200);
    expect(((await after.json()) as { value: unknown }).value).toEqual({ n: 42 });
    const projects = await api<{ project: Array<{ id: string; name: string }> }>(
      "query { project { id name } }",
    );
    expect(projects.data?.project).toEqual([{ id: project.data?.create_project.id, name: "kept" }]);
    expect(logs.join("\n")).toMatch(/DynamoDB Local \(pid \d+\) exited unexpectedly \(signal SIGKILL\)/);
    expect(logs.join("\n")).toMatch(/Restarting it on port \d+ in 3000 ms \(attempt 1 of 2\)/);
    expect(fatal).toBeUndefined();
  });

  it("gives up with a clear message when DynamoDB Local cannot be restarted", async () => {
    const dynamo = runtime.dynamoDbLocal;
    if (!dynamo) throw new Error("the runtime should have started its own DynamoDB Local");
    process.kill(dynamo.pid() ?? 0, "SIGKILL");
    // Something else takes the port before the restart (1 s later): java cannot bind it.
    blocker = await holdPort(dynamo.port, 5_000);
    await until(() => fatal !== undefined, 60_000, "the supervisor to give up");
    expect(fatal?.message).toMatch(/could not be restarted after 2 attempts/);
    expect(fatal?.message).toMatch(/Failed to bind|BindException|Address already in use/i);
    expect(fatal?.message).toContain(dataDir);
    expect(dynamo.pid()).toBeUndefined();
  });
});
