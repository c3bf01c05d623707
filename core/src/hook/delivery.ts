import { PutCommand } from "@aws-sdk/lib-dynamodb";
import pLimit from "p-limit";
import pRetry, { AbortError } from "p-retry";
import { useConfig } from "../config.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { batchGet, batchPut } from "../dynamo/operations.js";
import { deterministicId, nowIso } from "../ids.js";
import { type AttemptResult, EVENT_ID_HEADER, post, SIGNATURE_HEADER, signature } from "./deliver.js";
import { type Attempt, type CloudHook, type CloudHookDelivery, CloudHookDeliveryEntity } from "./entity.js";
import { storeMessage } from "./message.js";
import { type Payload, slackBody, webhookBody } from "./payload.js";

/**
 * One payload's delivery to one hook, with its record (docs/events.md, "Delivery"). Each
 * (hook, event) pair has one delivery record (./entity.ts): a pair already DELIVERED or FAILED is
 * skipped, so an event handed over twice (the stream read again after a crash, the queue
 * redelivering) is delivered once per hook, and one hook's failure never repeats another's
 * success. Each call tries `ATTEMPTS_PER_RECEIVE` times with backoff; what still fails is left
 * PENDING for the caller's next try (the queue's redelivery), or marked FAILED on its last.
 * A delivery that reached its target but whose record write was lost may be delivered again:
 * receivers dedupe on the event id (`X-PREFECT-EVENT-ID`).
 */
export const ATTEMPTS_PER_RECEIVE = 4;
/** Backoff between attempts of one receive: 0.5 s, 1 s, 2 s. */
export const FIRST_RETRY_MS = 500;
/** The newest attempts a delivery record keeps. */
export const MAX_LOGGED_ATTEMPTS = 20;
export const DELIVERY_RETENTION_DAYS = 14;

/**
 * `failed`: refused for good (an answer not worth retrying); `exhausted`: still failing on the
 * queue's last receive, marked FAILED (its message goes to the DLQ); `pending`: to be tried again.
 */
export type Outcome = "delivered" | "skipped" | "failed" | "exhausted" | "pending";

/** Whether an answer is worth trying again: timeouts, throttling, server errors, no answer. */
function retryable(result: AttemptResult): boolean {
  if (result.permanent) return false;
  const code = result.statusCode;
  if (code === null) return true;
  return code === 408 || code === 429 || code >= 500;
}

/** Sends one hook's payload once: HTTP for the webhooks, a stored message for PREFECT_MESSAGE. */
export async function send(hook: CloudHook, event: Payload): Promise<AttemptResult> {
  const config = useConfig().events;
  if (hook.type === "PREFECT_MESSAGE") {
    const started = performance.now();
    await storeMessage(hook, event);
    return { ok: true, statusCode: null, latencyMs: Math.round(performance.now() - started), error: null };
  }
  const url = String(hook.config.url ?? "");
  const body = hook.type === "SLACK_WEBHOOK" ? slackBody(event, config.publicUrl) : webhookBody(event);
  return post({
    url,
    body,
    headers: { [EVENT_ID_HEADER]: event.id, [SIGNATURE_HEADER]: signature(hook.signing_secret, body) },
    timeoutMs: config.hookTimeoutMs,
    allowPrivate: config.allowPrivateTargets,
  });
}

function deliveryKey(hook: CloudHook, event: Payload) {
  return CloudHookDeliveryEntity.key({
    tenant_id: hook.tenant_id,
    cloud_hook_id: hook.id,
    event_timestamp: event.timestamp,
    event_id: event.id,
  });
}

function deliveryOf(
  hook: CloudHook,
  event: Payload,
  previous: CloudHookDelivery | undefined,
  attempts: Attempt[],
  status: "PENDING" | "DELIVERED" | "FAILED",
): CloudHookDelivery {
  const last = attempts.at(-1) ?? previous?.attempt_log.at(-1);
  const now = nowIso();
  return CloudHookDeliveryEntity.fromItem({
    id: deterministicId("cloud-hook-delivery", hook.id, event.id),
    tenant_id: hook.tenant_id,
    cloud_hook_id: hook.id,
    event_id: event.id,
    event_type: event.type,
    event_timestamp: event.timestamp,
    flow_run_id: event.flow_run?.id ?? null,
    state: event.type === "FlowRunStateChange" ? event.state.state : null,
    is_test_event: event.is_test_event,
    status,
    attempts: (previous?.attempts ?? 0) + attempts.length,
    response_code: last?.status_code ?? null,
    latency_ms: last?.latency_ms ?? null,
    error: last?.error ?? null,
    attempt_log: [...(previous?.attempt_log ?? []), ...attempts].slice(-MAX_LOGGED_ATTEMPTS),
    created: previous?.created ?? now,
    updated: now,
  });
}

const itemOf = (delivery: CloudHookDelivery) => ({
  ...CloudHookDeliveryEntity.toItem(delivery),
  ttl_epoch: Math.floor(Date.now() / 1000) + DELIVERY_RETENTION_DAYS * 86_400,
});

/** Writes a delivery's record with the attempts just made appended. */
export async function record(
  hook: CloudHook,
  event: Payload,
  previous: CloudHookDelivery | undefined,
  attempts: Attempt[],
  status: "PENDING" | "DELIVERED" | "FAILED",
): Promise<CloudHookDelivery> {
  const delivery = deliveryOf(hook, event, previous, attempts, status);
  await useDynamo().send(new PutCommand({ TableName: mainTable(), Item: itemOf(delivery) }));
  return delivery;
}

const attemptOf = (result: AttemptResult): Attempt => ({
  at: nowIso(),
  status_code: result.statusCode,
  latency_ms: result.latencyMs,
  error: result.error,
});

export type Delivery = { hook: CloudHook; event: Payload; lastReceive: boolean };

/** Hooks called at once by one `deliverAll`. */
const DELIVERY_CONCURRENCY = 8;

/**
 * Delivers each payload to its hook unless its record says it was (see above), with the fewest
 * requests a batch allows: the records of the whole batch in one BatchGetItem, and the records of
 * the deliveries settled by their first attempt (the usual case) in BatchWriteItems at the end.
 * A delivery whose first attempt is worth retrying writes its record at each attempt instead, so
 * its log shows every try while it retries.
 */
export async function deliverAll(deliveries: readonly Delivery[]): Promise<Outcome[]> {
  if (deliveries.length === 0) return [];
  const keys = deliveries.map((d) => deliveryKey(d.hook, d.event));
  const stored = new Map(
    (await batchGet(keys, { consistent: true })).map((item) => [`${item.pk}\u0000${item.sk}`, item]),
  );
  const settled: CloudHookDelivery[] = [];
  const limit = pLimit(DELIVERY_CONCURRENCY);
  const outcomes = await Promise.all(
    deliveries.map((d, i) =>
      limit(async (): Promise<Outcome> => {
        const key = keys[i] as { pk: string; sk: string };
        const item = stored.get(`${key.pk}\u0000${key.sk}`);
        const previous = item ? CloudHookDeliveryEntity.fromItem(item) : undefined;
        if (previous && previous.status !== "PENDING") return "skipped";
        const result = await send(d.hook, d.event);
        if (result.ok || !retryable(result)) {
          settled.push(
            deliveryOf(d.hook, d.event, previous, [attemptOf(result)], result.ok ? "DELIVERED" : "FAILED"),
          );
          return result.ok ? "delivered" : "failed";
        }
        const first = await record(d.hook, d.event, previous, [attemptOf(result)], "PENDING");
        return retry(d, first);
      }),
    ),
  );
  await batchPut(settled.map(itemOf));
  return outcomes;
}

/** The attempts after a first one worth retrying, each recorded; FAILED on the last receive. */
async function retry(d: Delivery, first: CloudHookDelivery): Promise<Outcome> {
  let previous = first;
  let outcome: Outcome = "pending";
  await new Promise((resolve) => setTimeout(resolve, FIRST_RETRY_MS));
  await pRetry(
    async () => {
      const result = await send(d.hook, d.event);
      const permanent = !result.ok && !retryable(result);
      const status = result.ok ? "DELIVERED" : permanent ? "FAILED" : "PENDING";
      previous = await record(d.hook, d.event, previous, [attemptOf(result)], status);
      if (result.ok) outcome = "delivered";
      else if (permanent) {
        outcome = "failed";
        throw new AbortError(result.error ?? "refused");
      } else throw new Error(result.error ?? "failed");
    },
    { retries: ATTEMPTS_PER_RECEIVE - 2, minTimeout: FIRST_RETRY_MS * 2, factor: 2, randomize: false },
  ).catch(() => {});
  if (outcome === "pending" && d.lastReceive) {
    await record(d.hook, d.event, previous, [], "FAILED");
    return "exhausted";
  }
  return outcome;
}

/** Delivers one payload to one hook (an automation's call). */
export async function deliver(
  hook: CloudHook,
  event: Payload,
  options: { lastReceive: boolean },
): Promise<Outcome> {
  const [outcome] = await deliverAll([{ hook, event, lastReceive: options.lastReceive }]);
  return outcome ?? "pending";
}
