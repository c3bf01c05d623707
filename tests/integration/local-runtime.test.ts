import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { createSqsClient } from "#core/sqs/client.js";
import { registerRecordHandler } from "../../functions/logs/src/handler.js";
import { checkJava, StartupError } from "../../local/src/dynamodb-local.js";
import { type LocalRuntime, runningRuntime, startLocalRuntime } from "../../local/src/runtime.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("startup checks", () => {
  it("fails with a clear message when Java is missing", () => {
    expect(() => checkJava({ PATH: "/nonexistent" })).toThrow(StartupError);
    expect(() => checkJava({ PATH: "/nonexistent" })).toThrow(/Java was not found.*Java 17/);
  });

  it("fails with a clear message when the port is taken, leaving nothing running", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const address = blocker.address();
    const port = typeof address === "object" && address ? address.port : 0;
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    await expect(
      startLocalRuntime({ host: "127.0.0.1", port, dataDir: undefined, namePrefix: "t-port" }),
    ).rejects.toThrow(new RegExp(`Port ${port} on 127.0.0.1 is already in use.*DROVER_PORT`));
  });

  it("stops startup on an unusable DROVER_BOOTSTRAP_KEY before starting anything", async () => {
    await expect(
      startLocalRuntime({ host: "127.0.0.1", port: 0, dataDir: undefined, bootstrapKey: "too short" }),
    ).rejects.toThrow(/DROVER_BOOTSTRAP_KEY is not usable/);
  });
});

describe("data folder", () => {
  it("creates the default workspace and its key once, keeps data across restarts, and honours the bootstrap key", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-data-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const bootstrapKey = "ci-bootstrap-key-0123456789abcdefghijklmnop";
    const options = { host: "127.0.0.1", port: 0, dataDir, bootstrapKey, namePrefix: "drover-local" };

    const first = await startLocalRuntime(options);
    let second: LocalRuntime | undefined;
    try {
      expect(first.bootstrap.created).toBe(true);
      expect(first.bootstrap.secret).toBe(bootstrapKey);
      expect(runningRuntime(dataDir)?.pid).toBe(process.pid);
      await expect(startLocalRuntime(options)).rejects.toThrow(/already running/);
      const created = await client(first, bootstrapKey)(
        "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
        { input: { name: "kept" } },
      );
      expect(created.errors).toBeUndefined();
      const setSecret = await client(first, bootstrapKey)(
        "mutation($input: set_secret_input!) { set_secret(input: $input) { success } }",
        { input: { name: "KEPT", value: { token: "s3cr3t" } } },
      );
      expect(setSecret.errors).toBeUndefined();
      // The key that seals secrets is the data folder's own, readable by its owner only.
      expect(statSync(join(dataDir, "secrets.key")).mode & 0o777).toBe(0o600);
      await first.stop();
      expect(runningRuntime(dataDir)).toBeUndefined();

      second = await startLocalRuntime(options);
      expect(second.bootstrap.created).toBe(false);
      expect(second.bootstrap.secret).toBeUndefined();
      expect(second.bootstrap.workspace.id).toBe(first.bootstrap.workspace.id);
      const read = await client(
        second,
        bootstrapKey,
      )('query { project(where: {name: {_eq: "kept"}}) { id } }');
      expect(read.data).toEqual({
        project: [{ id: (created.data as { create_project: { id: string } }).create_project.id }],
      });
      const secret = await client(second, bootstrapKey)(
        "query($name: String!) { secret_value(name: $name) }",
        {
          name: "KEPT",
        },
      );
      expect(secret.data).toEqual({ secret_value: { token: "s3cr3t" } });
    } finally {
      await first.stop();
      await second?.stop();
    }
  }, 60_000);
});

describe("ingestion consumer as Lambda's SQS event source mapping", () => {
  it("deletes handled records, redelivers failed ones, and moves a poison message to the DLQ", async () => {
    const handled: string[] = [];
    registerRecordHandler("test-echo", async (body) => {
      const { value } = body as { value: string };
      if (value === "poison") throw new Error("cannot handle poison");
      handled.push(value);
    });
    const runtime = await startTestRuntime("ingest", { visibilityTimeoutSeconds: 1 });
    cleanups.push(runtime.stop);
    const sqs = createSqsClient(runtime.config);
    for (const value of ["a", "poison", "b"]) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: runtime.ingestQueueUrl,
          MessageBody: JSON.stringify({ kind: "test-echo", value }),
        }),
      );
    }
    const depth = async (url: string) => {
      const attributes = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      return (
        Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    };
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await depth(runtime.ingestDlqUrl)) === 0)
      await new Promise((r) => setTimeout(r, 200));
    expect(handled.sort()).toEqual(["a", "b"]);
    expect(await depth(runtime.ingestDlqUrl)).toBe(1);
    expect(await depth(runtime.ingestQueueUrl)).toBe(0);
    sqs.destroy();
  }, 30_000);
});
