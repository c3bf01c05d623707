import { randomUUID } from "node:crypto";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { EventBus } from "#core/events/bus.js";
import { type DroverEvent, EVENT_SOURCE, HOOK_RULE_PATTERN } from "#core/events/types.js";

/** What an EventBridge rule with an SQS target puts on the queue: the event's envelope. */
export function envelopeOf(event: DroverEvent, region: string) {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": event.type,
    source: EVENT_SOURCE,
    account: "000000000000",
    time: `${event.timestamp.slice(0, 19)}Z`,
    region,
    resources: [],
    detail: event,
  };
}

/**
 * The local runtime's event bus: the stack's EventBridge bus in-process. It applies the stack's
 * rules as EventBridge would: the hook rule (`HOOK_RULE_PATTERN`) sends matching events, in their
 * EventBridge envelope, to the hooks queue (durable on the data folder); `subscribe` adds a
 * listener of every event (tests and benchmarks watch with it). `publish` resolves once the
 * queue has every matching event, and throws when it refused any.
 */
export class LocalEventBus implements EventBus {
  private readonly listeners = new Set<(event: DroverEvent) => void>();

  constructor(
    private readonly sqs: SQSClient,
    private readonly hooksQueueUrl: string,
    private readonly region: string,
  ) {}

  subscribe(listener: (event: DroverEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async publish(events: readonly DroverEvent[]): Promise<void> {
    const types: readonly string[] = HOOK_RULE_PATTERN["detail-type"];
    const routed = events.filter((e) => types.includes(e.type));
    for (let i = 0; i < routed.length; i += 10) {
      const batch = routed.slice(i, i + 10);
      const result = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.hooksQueueUrl,
          Entries: batch.map((event, n) => ({
            Id: String(n),
            MessageBody: JSON.stringify(envelopeOf(event, this.region)),
          })),
        }),
      );
      if (result.Failed?.length)
        throw new Error(
          `the hooks queue refused ${result.Failed.length} events (${result.Failed[0]?.Message})`,
        );
    }
    for (const event of events) for (const listener of this.listeners) listener(event);
  }
}
