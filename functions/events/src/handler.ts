import { Logger } from "@aws-lambda-powertools/logger";
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from "aws-lambda";
import { useEventBus } from "#core/events/bus.js";
import { eventsOfRecord } from "#core/events/changes.js";
import type { DroverEvent } from "#core/events/types.js";

const logger = new Logger({ serviceName: "drover-events" });

/**
 * The main table's stream consumer (docs/events.md): turns each committed change into its events
 * (core/src/events/changes.ts) and publishes them to the bus, in the order of the stream. When
 * the bus refuses them, the whole batch is reported failed from its first record, so the event
 * source mapping (locally: local/src/stream-poller.ts) keeps its checkpoint before it and hands
 * it over again; events are identified by the change they come from, so a batch published twice
 * gives consumers the same ids twice.
 */
export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const events: DroverEvent[] = [];
  for (const record of event.Records) {
    try {
      events.push(...eventsOfRecord(record));
    } catch (error) {
      // A change that cannot be read as an event is skipped, never retried: it would stall the shard.
      logger.error("stream record skipped", { error, eventId: record.eventID });
    }
  }
  if (events.length === 0) return { batchItemFailures: [] };
  try {
    await useEventBus().publish(events);
    return { batchItemFailures: [] };
  } catch (error) {
    const first = event.Records[0]?.dynamodb?.SequenceNumber;
    logger.warn("events not published; the batch will be handed over again", {
      error,
      events: events.length,
      records: event.Records.length,
    });
    return { batchItemFailures: first ? [{ itemIdentifier: first }] : [] };
  }
}
