import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, expect, test } from "vitest";
import { startQueues } from "../../local/src/queues.js";

/**
 * The local queues on a data folder: what SendMessage acknowledged is still there after the
 * emulator goes away, and a message that was in flight is delivered again at once on restart
 * (no consumer of the previous process can still hold it).
 */
const dir = mkdtempSync(join(tmpdir(), "drover-queues-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const client = (endpoint: string) =>
  new SQSClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "l", secretAccessKey: "l" } });

test("sent and in-flight messages survive a restart; in-flight ones are visible at once", async () => {
  const first = await startQueues({ prefix: "q", dataDir: dir });
  let sqs = client(first.endpoint);
  await sqs.send(new SendMessageCommand({ QueueUrl: first.ingestQueueUrl, MessageBody: "first" }));
  await sqs.send(new SendMessageCommand({ QueueUrl: first.ingestQueueUrl, MessageBody: "second" }));
  await sqs.send(new SendMessageCommand({ QueueUrl: first.ingestDlqUrl, MessageBody: "parked" }));
  const taken = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: first.ingestQueueUrl,
      MaxNumberOfMessages: 1,
      VisibilityTimeout: 600,
    }),
  );
  // "first" is now in flight (hidden for 10 minutes) when the emulator goes away.
  expect(taken.Messages?.map((m) => m.Body)).toEqual(["first"]);
  sqs.destroy();
  await first.stop();

  const second = await startQueues({ prefix: "q", dataDir: dir });
  sqs = client(second.endpoint);
  try {
    const again = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: second.ingestQueueUrl,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    const bodies = (again.Messages ?? []).map((m) => m.Body).sort();
    expect(bodies).toEqual(["first", "second"]);
    const redelivered = again.Messages?.find((m) => m.Body === "first");
    expect(redelivered?.Attributes?.ApproximateReceiveCount).toBe("2");
    const parked = await sqs.send(new ReceiveMessageCommand({ QueueUrl: second.ingestDlqUrl }));
    expect(parked.Messages?.map((m) => m.Body)).toEqual(["parked"]);
  } finally {
    sqs.destroy();
    await second.stop();
  }
});
