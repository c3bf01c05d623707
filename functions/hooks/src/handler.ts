import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { Logger } from "@aws-lambda-powertools/logger";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import {
  type Dispatch,
  type DispatchResult,
  dispatchAll,
  HOOKS_MAX_RECEIVES,
  parseBusMessage,
} from "#core/hook/dispatch.js";

const logger = new Logger({ serviceName: "drover-hooks" });
const processor = new BatchProcessor(EventType.SQS);

/**
 * The hooks queue's consumer (docs/events.md, "Delivery"). The bus's hook rule puts each flow run
 * state change on the queue. A batch is dispatched at once (core/src/hook/dispatch.ts: each
 * workspace's hooks and automations read once, the delivery records read and written in
 * batches); then each message is settled on its own: one with a hook still failing is reported
 * failed, so the queue hands it over again after its visibility timeout (only the hooks still
 * pending are called again), and on its last receive those are marked FAILED and it moves to the
 * DLQ. A message that is not a state change fails until the DLQ takes it.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const parsed = new Map<string, Dispatch>();
  const refused = new Map<string, Error>();
  for (const record of event.Records) {
    try {
      const receives = Number(record.attributes.ApproximateReceiveCount ?? "1");
      parsed.set(record.messageId, {
        event: parseBusMessage(record.body),
        lastReceive: receives >= HOOKS_MAX_RECEIVES,
      });
    } catch (error) {
      refused.set(record.messageId, error as Error);
    }
  }
  const items = [...parsed.entries()];
  const results = new Map<string, DispatchResult>();
  let failure: unknown;
  try {
    const dispatched = await dispatchAll(items.map(([, item]) => item));
    for (const [i, [id]] of items.entries()) results.set(id, dispatched[i] as DispatchResult);
  } catch (error) {
    failure = error;
    logger.error("dispatch failed; the batch will be handed over again", { error });
  }
  const settle = async (record: SQSRecord) => {
    const bad = refused.get(record.messageId);
    if (bad) throw bad;
    const result = results.get(record.messageId);
    if (!result) throw failure ?? new Error("not dispatched");
    if (result.pending > 0) throw new Error(`${result.pending} hook(s) still failing for this event`);
    // Given up on: failed once more, so that the queue moves the message to its DLQ (alarmed).
    if (result.exhausted > 0) throw new Error(`${result.exhausted} hook(s) gave up on this event`);
  };
  const response = await processPartialResponse(event, settle, processor, { throwOnFullBatchFailure: false });
  const delivered = [...results.values()].reduce((sum, r) => sum + r.delivered, 0);
  logger.debug("batch dispatched", {
    records: event.Records.length,
    delivered,
    failed: response.batchItemFailures.length,
  });
  return response;
}
