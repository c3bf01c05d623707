import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from "@aws-sdk/client-eventbridge";
import pRetry from "p-retry";
import { useConfig } from "../config.js";
import { type DroverEvent, EVENT_SOURCE } from "./types.js";

/**
 * Where events go: the stack's EventBridge bus on AWS (`EventBridgeBus`), an in-process bus
 * locally (local/src/event-bus.ts) that routes them as the stack's rules do. `publish` resolves
 * once every event is accepted and throws otherwise, so its caller (the events function) keeps
 * the stream's checkpoint before them and they are published again.
 */
export interface EventBus {
  publish(events: readonly DroverEvent[]): Promise<void>;
}

/** PutEvents limits: 10 entries per request, 256 KiB per request (entries counted as AWS counts them). */
export const MAX_ENTRIES_PER_PUT = 10;
export const MAX_PUT_BYTES = 256 * 1024;

/** The size AWS counts for an entry: Time (14 bytes), Source, DetailType, Detail and Resources in UTF-8. */
export function entrySize(entry: PutEventsRequestEntry): number {
  const bytes = (s: string | undefined) => (s ? Buffer.byteLength(s, "utf8") : 0);
  return (
    (entry.Time ? 14 : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((sum, r) => sum + bytes(r), 0)
  );
}

/**
 * The PutEvents entry of an event. An event too large for one entry (a huge serialized state)
 * goes without its `serialized_state` (`state.truncated: true`); consumers read the run for it.
 */
export function toEntry(event: DroverEvent, busName: string): PutEventsRequestEntry {
  const entry = (detail: DroverEvent) => ({
    EventBusName: busName,
    Source: EVENT_SOURCE,
    DetailType: event.type,
    Time: new Date(event.timestamp),
    Resources: [],
    Detail: JSON.stringify(detail),
  });
  const whole = entry(event);
  if (entrySize(whole) <= MAX_PUT_BYTES || !("state" in event)) return whole;
  return entry({ ...event, state: { ...event.state, serialized_state: null, truncated: true } });
}

/** Entries in requests of at most 10 and 256 KiB each, in order. */
export function batches(entries: PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  const out: PutEventsRequestEntry[][] = [];
  let current: PutEventsRequestEntry[] = [];
  let size = 0;
  for (const entry of entries) {
    const bytes = entrySize(entry);
    if (current.length === MAX_ENTRIES_PER_PUT || (current.length > 0 && size + bytes > MAX_PUT_BYTES)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

export class PublishError extends Error {}

/**
 * Publishes to an EventBridge bus. Entries the service refuses in a partly failed PutEvents
 * (`FailedEntryCount`, throttling or an internal error) are sent again, alone, with backoff; the
 * SDK itself retries whole requests that fail. What is still refused after `attempts` throws.
 */
export class EventBridgeBus implements EventBus {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
    private readonly retry: { attempts: number; minTimeoutMs: number } = { attempts: 5, minTimeoutMs: 100 },
  ) {}

  async publish(events: readonly DroverEvent[]): Promise<void> {
    const entries = events.map((e) => toEntry(e, this.busName));
    for (const batch of batches(entries)) await this.put(batch);
  }

  private async put(batch: PutEventsRequestEntry[]): Promise<void> {
    let pending = batch;
    await pRetry(
      async () => {
        const result = await this.client.send(new PutEventsCommand({ Entries: pending }));
        if (!result.FailedEntryCount) return;
        const failed = pending.filter((_, i) => failedEntry(result.Entries?.[i]));
        const codes = (result.Entries ?? []).filter(failedEntry).map((e) => e.ErrorCode);
        pending = failed;
        throw new PublishError(`EventBridge refused ${failed.length} of the events (${codes.join(", ")})`);
      },
      {
        retries: this.retry.attempts - 1,
        minTimeout: this.retry.minTimeoutMs,
        factor: 2,
        randomize: true,
      },
    );
  }
}

function failedEntry(entry: PutEventsResultEntry | undefined): boolean {
  return !entry || entry.ErrorCode !== undefined || !entry.EventId;
}

let installed: EventBus | undefined;

/** Replaces the process's bus (the local runtime installs its in-process one). */
export function installEventBus(bus: EventBus | undefined): void {
  installed = bus;
}

/** The process's bus: the installed one, or the configured EventBridge bus. */
export function useEventBus(): EventBus {
  if (installed) return installed;
  const config = useConfig();
  // Local endpoints never reach AWS: the local runtime (or a test) installs its bus.
  if (config.dynamoEndpoint !== undefined) throw new Error("No event bus is installed in this process");
  installed = new EventBridgeBus(new EventBridgeClient({ region: config.region }), config.eventBusName);
  return installed;
}
