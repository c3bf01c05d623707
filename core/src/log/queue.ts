import { type BatchResultErrorEntry, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { useConfig } from "../config.js";
import { RetryableError } from "../errors.js";
import { useSqs } from "../sqs/client.js";
import { sendBatches } from "./message.js";

const SEND_ATTEMPTS = 3;

/**
 * Puts message bodies on the ingestion queue (SendMessageBatch, calls in parallel). Entries SQS
 * reports as failed by its own fault are resent; if any body is still not queued, or a call
 * fails, the caller gets a retryable error (API_ERROR) and must not acknowledge anything.
 */
export async function enqueue(bodies: string[]): Promise<void> {
  const queueUrl = useConfig().ingestQueueUrl;
  if (!queueUrl) throw new Error("DROVER_INGEST_QUEUE_URL is not configured");
  const results = await Promise.allSettled(sendBatches(bodies).map((batch) => sendAll(queueUrl, batch)));
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length > 0) {
    throw new RetryableError("Logs could not be queued for ingestion; retry the batch", {
      cause: (failed[0] as PromiseRejectedResult).reason,
    });
  }
}

async function sendAll(queueUrl: string, batch: string[]): Promise<void> {
  let pending = batch.map((body, i) => ({ Id: String(i), MessageBody: body }));
  let lastFailure: BatchResultErrorEntry | undefined;
  for (let attempt = 0; attempt < SEND_ATTEMPTS && pending.length > 0; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    const result = await useSqs().send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
    const failed = result.Failed ?? [];
    if (failed.some((f) => f.SenderFault)) {
      throw new Error(`SQS refused log messages: ${failed.map((f) => `${f.Code}: ${f.Message}`).join("; ")}`);
    }
    lastFailure = failed[0];
    const retry = new Set(failed.map((f) => f.Id));
    pending = pending.filter((entry) => retry.has(entry.Id));
  }
  if (pending.length > 0) {
    throw new Error(
      `${pending.length} log messages not queued: ${lastFailure?.Code} ${lastFailure?.Message}`,
    );
  }
}
