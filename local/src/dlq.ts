import { join, resolve } from "node:path";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { DroverError } from "#core/errors.js";
import { DEAD_LETTER_ERROR, DEAD_LETTER_SOURCE } from "#core/log/dead-letter.js";
import { startQueues } from "./queues.js";
import { runningRuntime } from "./runtime.js";

/** The local queues' names (the runtime's default prefix). */
const LOCAL_PREFIX = "drover-local";
/** How long a listed message stays hidden from other readers before it is shown again. */
const LIST_VISIBILITY_SECONDS = 30;

export type DeadLetterQueues = { sqs: SQSClient; ingestQueueUrl: string; dlqUrl: string };

/**
 * Runs `fn` against the ingestion queue and its DLQ:
 * - `aws`: the deployed stack's queues, named by DROVER_INGEST_QUEUE_URL and DROVER_INGEST_DLQ_URL
 *   (the stack outputs IngestQueueUrl and IngestDeadLetterQueueUrl), with your AWS credentials;
 * - otherwise the local data folder's persistent queues: through the fauxqs of a running
 *   `npm start`, or opened just for this command.
 */
export async function withDeadLetterQueues<T>(
  options: { dataDir: string; aws: boolean },
  fn: (queues: DeadLetterQueues) => Promise<T>,
): Promise<T> {
  if (options.aws) {
    const ingestQueueUrl = process.env.DROVER_INGEST_QUEUE_URL;
    const dlqUrl = process.env.DROVER_INGEST_DLQ_URL;
    if (!ingestQueueUrl || !dlqUrl)
      throw new DroverError(
        "BAD_USER_INPUT",
        "With --aws, set DROVER_INGEST_QUEUE_URL and DROVER_INGEST_DLQ_URL to the stack outputs IngestQueueUrl and IngestDeadLetterQueueUrl (see docs/deploy.md).",
      );
    const sqs = new SQSClient({ region: process.env.AWS_REGION });
    try {
      return await fn({ sqs, ingestQueueUrl, dlqUrl });
    } finally {
      sqs.destroy();
    }
  }
  const dataDir = resolve(options.dataDir);
  const running = runningRuntime(dataDir);
  const queues = running
    ? undefined
    : await startQueues({ prefix: LOCAL_PREFIX, dataDir: join(dataDir, "sqs") });
  const endpoint = running?.sqsEndpoint ?? queues?.endpoint ?? "";
  const sqs = new SQSClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  try {
    const url = async (name: string) =>
      (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl ?? "";
    return await fn({
      sqs,
      ingestQueueUrl: await url(`${LOCAL_PREFIX}-ingest`),
      dlqUrl: await url(`${LOCAL_PREFIX}-ingest-dlq`),
    });
  } finally {
    sqs.destroy();
    await queues?.stop();
  }
}

export type DeadLetter = {
  messageId: string;
  kind: string;
  tenant: string;
  lines: number | undefined;
  /** Receives before it was parked (and by earlier listings), not counting this listing. */
  receives: number;
  error: string | undefined;
  bytes: number;
  sourceMessageId: string | undefined;
};

function describe(message: Message): DeadLetter {
  const body = message.Body ?? "";
  let parsed: { kind?: unknown; tenant_id?: unknown; logs?: unknown } = {};
  try {
    const value = JSON.parse(body) as unknown;
    if (value && typeof value === "object") parsed = value as typeof parsed;
  } catch {
    // not JSON: shown as such
  }
  const attributes = message.MessageAttributes ?? {};
  return {
    messageId: message.MessageId ?? "",
    kind: typeof parsed.kind === "string" ? parsed.kind : "?",
    tenant: typeof parsed.tenant_id === "string" ? parsed.tenant_id : "?",
    lines: Array.isArray(parsed.logs) ? parsed.logs.length : undefined,
    receives: Math.max(0, Number(message.Attributes?.ApproximateReceiveCount ?? 1) - 1),
    error: attributes[DEAD_LETTER_ERROR]?.StringValue,
    bytes: Buffer.byteLength(body, "utf8"),
    sourceMessageId: attributes[DEAD_LETTER_SOURCE]?.StringValue,
  };
}

/** Receives every message of the DLQ once (hidden while it is read). */
async function receiveAll(sqs: SQSClient, queueUrl: string, visibilitySeconds: number): Promise<Message[]> {
  const all = new Map<string, Message>();
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: visibilitySeconds,
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
    );
    const fresh = Messages.filter((m) => !all.has(m.MessageId ?? ""));
    if (fresh.length === 0) return [...all.values()];
    for (const m of fresh) all.set(m.MessageId ?? "", m);
  }
}

/** The DLQ's messages, described; they are made visible again right after being read. */
export async function listDeadLetters(queues: DeadLetterQueues): Promise<DeadLetter[]> {
  const messages = await receiveAll(queues.sqs, queues.dlqUrl, LIST_VISIBILITY_SECONDS);
  for (let i = 0; i < messages.length; i += 10) {
    await queues.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queues.dlqUrl,
        Entries: messages.slice(i, i + 10).map((m, j) => ({
          Id: String(j),
          ReceiptHandle: m.ReceiptHandle ?? "",
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
  return messages.map(describe);
}

/**
 * Moves the DLQ's messages back to the ingestion queue: each is sent, then deleted from the DLQ,
 * so a crash in between leaves a copy in both places, never none; storing a line twice writes the
 * same item (deterministic keys). A line that still cannot be stored comes back to the DLQ.
 */
export async function redriveDeadLetters(queues: DeadLetterQueues): Promise<number> {
  const messages = await receiveAll(queues.sqs, queues.dlqUrl, 120);
  for (const message of messages) {
    await queues.sqs.send(
      new SendMessageCommand({ QueueUrl: queues.ingestQueueUrl, MessageBody: message.Body ?? "" }),
    );
    await queues.sqs.send(
      new DeleteMessageCommand({ QueueUrl: queues.dlqUrl, ReceiptHandle: message.ReceiptHandle ?? "" }),
    );
  }
  return messages.length;
}

/** One line per parked message, as `drover dlq list` prints them. */
export function formatDeadLetter(d: DeadLetter): string {
  const lines = d.lines === undefined ? "" : ` lines=${d.lines}`;
  return `${d.messageId}\tkind=${d.kind}\ttenant=${d.tenant}${lines}\treceives=${d.receives}\tbytes=${d.bytes}\terror=${d.error ?? "-"}`;
}
