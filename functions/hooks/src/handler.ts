import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { Logger } from "@aws-lambda-powertools/logger";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { dispatch, HOOKS_MAX_RECEIVES, parseBusMessage } from "#core/hook/dispatch.js";

const logger = new Logger({ serviceName: "drover-hooks" });
const processor = new BatchProcessor(EventType.SQS);

/**
 * The hooks queue's consumer (docs/events.md, "Delivery"). The bus's hook rule puts each flow run
 * state change on the queue; each message is delivered to the workspace's matching hooks
 * (core/src/hook/dispatch.ts). A message with a hook still failing is reported failed, so the
 * queue hands it over again after its visibility timeout (only the hooks still pending are
 * called again); on its last receive those are marked FAILED and it moves to the DLQ.
 */
async function recordHandler(record: SQSRecord): Promise<void> {
  const event = parseBusMessage(record.body);
  const receives = Number(record.attributes.ApproximateReceiveCount ?? "1");
  const result = await dispatch(event, { lastReceive: receives >= HOOKS_MAX_RECEIVES });
  if (result.matched > 0)
    logger.info("event dispatched", { event: event.id, tenant: event.tenant_id, ...result });
  if (result.pending > 0) throw new Error(`${result.pending} hook(s) still failing for event ${event.id}`);
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  return processPartialResponse(event, recordHandler, processor, { throwOnFullBatchFailure: false });
}
