import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { useConfig } from "../config.js";
import { useSqs } from "../sqs/client.js";

/** Message attributes a parked message carries, read by `drover dlq list`. */
export const DEAD_LETTER_ERROR = "drover-error";
export const DEAD_LETTER_SOURCE = "drover-source-message-id";
const MAX_ERROR_CHARS = 1000;

/**
 * Parks a message body the consumer can never store (e.g. the one refused line of a message whose
 * other lines were stored) on the ingestion DLQ, with the reason, so an operator sees it
 * (`drover dlq list`) and can replay it once fixed (`drover dlq redrive`). Without a configured DLQ
 * it throws: the source message is then redelivered and lands in the DLQ whole after the queue's
 * maxReceiveCount (its stored lines are rewritten idempotently).
 */
export async function deadLetter(body: string, error: string, sourceMessageId: string): Promise<void> {
  const queueUrl = useConfig().ingestDlqUrl;
  if (!queueUrl) throw new Error(`DROVER_INGEST_DLQ_URL is not configured; cannot park: ${error}`);
  await useSqs().send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageAttributes: {
        [DEAD_LETTER_ERROR]: {
          DataType: "String",
          StringValue: error.slice(0, MAX_ERROR_CHARS) || "unknown",
        },
        ...(sourceMessageId
          ? { [DEAD_LETTER_SOURCE]: { DataType: "String", StringValue: sourceMessageId } }
          : {}),
      },
    }),
  );
}
