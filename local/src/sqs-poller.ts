import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

/** The SQS record Lambda's event source mapping would build from a received message. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? "",
    receiptHandle: message.ReceiptHandle ?? "",
    body: message.Body ?? "",
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? "local",
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/**
 * Plays Lambda's SQS event source mapping: receive up to `batchSize` messages, invoke the handler
 * with an SQS event, delete the messages that did not fail (`batchItemFailures`); failed ones
 * become visible again after the visibility timeout and go to the DLQ after maxReceiveCount.
 * A handler that throws fails the whole batch, as on AWS.
 *
 * `pollers` loops run at once, as the event source mapping scales its concurrent batches with
 * the backlog: a loop that received messages asks again at once; only an empty queue waits (a
 * long poll of `waitSeconds`). `stop()` lets each loop finish its current batch (its receive,
 * the handler and the deletes), so a clean stop strands no message in flight.
 */
export function startSqsPoller(options: {
  client: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  handler: SqsHandler;
  batchSize?: number;
  waitSeconds?: number;
  pollers?: number;
  /**
   * After a batch smaller than `batchSize`, wait this long before receiving again, so that under
   * a steady trickle the handler gets fuller batches (Lambda's MaximumBatchingWindowInSeconds).
   */
  batchWindowMs?: number;
  onError?: (error: unknown) => void;
}): { stop: () => Promise<void> } {
  let running = true;
  const poll = async () => {
    while (running) {
      try {
        const received = await options.client.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: options.batchSize ?? 10,
            WaitTimeSeconds: options.waitSeconds ?? 1,
            MessageSystemAttributeNames: ["All"],
          }),
        );
        const messages = received.Messages ?? [];
        if (messages.length === 0) continue;
        const event: SQSEvent = {
          Records: messages.map((m) => toSqsRecord(m, options.queueArn, options.region)),
        };
        let failed: Set<string>;
        try {
          const response = await options.handler(event);
          failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        } catch (error) {
          options.onError?.(error);
          failed = new Set(messages.map((m) => m.MessageId ?? ""));
        }
        const done = messages.filter((m) => !failed.has(m.MessageId ?? ""));
        if (done.length > 0) {
          await options.client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: options.queueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" })),
            }),
          );
        }
        if (options.batchWindowMs && messages.length < (options.batchSize ?? 10) && running)
          await new Promise((resolve) => setTimeout(resolve, options.batchWindowMs));
      } catch (error) {
        if (!running) break;
        options.onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  const loops = Array.from({ length: Math.max(1, options.pollers ?? 1) }, () => poll());
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
