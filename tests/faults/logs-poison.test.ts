import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterEach, expect, test } from "vitest";
import { deterministicId } from "#core/ids.js";
import {
  type Child,
  createRuns,
  killGroup,
  queued,
  runtimeFile,
  startRuntime,
  storageOf,
  storedMessages,
} from "./logs-burst.js";

/**
 * A log message with unstorable lines reaches the consumer (put on the queue directly, as if edge
 * validation had let it through): its good lines are stored, the bad ones are parked on the DLQ
 * with the reason, `drover dlq list` shows them (also after a restart: the DLQ is persistent), and
 * `drover dlq redrive` replays them (they come back, still unstorable).
 */
const ROOT = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);
const drover = (...args: string[]) =>
  run(process.execPath, ["--import", "tsx", "local/src/main.ts", ...args], { cwd: ROOT, timeout: 60_000 });

let dataDir: string | undefined;
const children: Child[] = [];
afterEach(() => {
  for (const child of children.splice(0)) killGroup(child);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test("one message: good lines stored, unstorable ones parked on the DLQ, listed and redriven", async () => {
  dataDir = mkdtempSync(join(tmpdir(), "drover-poison-"));
  const dir = dataDir;
  let child = await startRuntime(dir);
  children.push(child);
  const { tenant, runs } = await createRuns(child.graphqlUrl, 1);
  const flowRun = runs[0] as string;
  const line = (i: number, info: unknown) => ({
    id: deterministicId("faults-poison", String(i), 0),
    flow_run_id: flowRun,
    task_run_id: null,
    timestamp: new Date(Date.UTC(2026, 11, 2, 12, 0, i)).toISOString(),
    level: "INFO",
    name: "prefect.CloudTaskRunner",
    message: `poison test line ${i}`,
    info,
    created: new Date().toISOString(),
  });
  let deep: unknown = "bottom";
  for (let i = 0; i < 40; i++) deep = { d: deep };
  // Written raw: JSON.stringify cannot spell an integer beyond 2^53 exactly, the queue can.
  const logs = [
    JSON.stringify(line(0, { ok: true })),
    JSON.stringify(line(1, null)),
    JSON.stringify(line(2, "placeholder")).replace('"placeholder"', "12345678901234567890123"),
    JSON.stringify(line(3, { n: 1 })),
    JSON.stringify(line(4, { huge: 1e300 })),
    JSON.stringify(line(5, deep)),
    JSON.stringify(line(6, ["fine"])),
  ];
  const body = `{"kind":"log","tenant_id":"${tenant}","logs":[${logs.join(",")}]}`;
  let storage = storageOf(dir);
  const { ingestQueueUrl } = {
    ingestQueueUrl: `${runtimeFile(dir).sqsEndpoint}/000000000000/drover-local-ingest`,
  };
  await storage.sqs.send(new SendMessageCommand({ QueueUrl: ingestQueueUrl, MessageBody: body }));

  await until("the DLQ to hold the parked lines", async () =>
    (await queued(storage, dir, true)) > 0 && (await queued(storage, dir)) === 0 ? true : undefined,
  );
  const stored = await storedMessages(storage, tenant, runs);
  expect(stored.filter((m) => m.startsWith("poison")).sort()).toEqual([
    "poison test line 0",
    "poison test line 1",
    "poison test line 3",
    "poison test line 6",
  ]);
  expect(await queued(storage, dir, true)).toBe(1);

  const listed = await drover("dlq", "list", "--data-dir", dir);
  expect(listed.stdout).toContain(`tenant=${tenant}`);
  expect(listed.stdout).toContain("kind=log");
  expect(listed.stdout).toContain("lines=3");
  expect(listed.stdout).toMatch(/error=line [0-9a-f-]{36}: /);
  expect(listed.stdout).toContain("1 message in the DLQ.");

  // The DLQ persists: after a clean stop it is still there, listed without a running runtime.
  storage.destroy();
  child.process.kill("SIGTERM");
  expect(await child.exited).toBe(0);
  const offline = await drover("dlq", "list", "--data-dir", dir);
  expect(offline.stdout).toContain("1 message in the DLQ.");
  expect(offline.stdout).toContain(`tenant=${tenant}`);

  // Redrive: the message goes back to the ingestion queue; its lines are still unstorable, so the
  // consumer parks them again (and stores nothing twice).
  child = await startRuntime(dir);
  children.push(child);
  storage = storageOf(dir);
  const redriven = await drover("dlq", "redrive", "--data-dir", dir);
  expect(redriven.stdout).toContain("Moved 1 message back to the ingestion queue.");
  await until("the redriven lines to be parked again", async () =>
    (await queued(storage, dir)) === 0 && (await queued(storage, dir, true)) === 1 ? true : undefined,
  );
  expect((await storedMessages(storage, tenant, runs)).filter((m) => m.startsWith("poison"))).toHaveLength(4);
  storage.destroy();
});
