import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseConfig } from "#core/config.js";
import { eventsOfRecord } from "#core/events/changes.js";
import { EVENT_SOURCE, HOOK_RULE_PATTERN } from "#core/events/types.js";
import { FlowRunEntity } from "#core/flow-run/entity.js";
import { ATTEMPTS_PER_RECEIVE, HOOKS_MAX_RECEIVES } from "#core/hook/dispatch.js";
import { TaskRunEntity } from "#core/task-run/entity.js";
import {
  EVENTS_BATCH_SIZE,
  EVENTS_MAX_RECORD_AGE,
  EVENTS_RETRY_ATTEMPTS,
  HOOK_TIMEOUT_MS,
  HOOKS_BATCH_SIZE,
  HOOKS_TIMEOUT,
  STREAM_EVENT_ENTITIES,
} from "../../infra/lib/events.js";
import { EVENTS_ITERATOR_AGE_ALARM_MS, HOOKS_AGE_ALARM_SECONDS } from "../../infra/lib/monitoring.js";
import { removeSynth, synthDrover } from "./synth.js";
import { logicalId, referencedIds, resources } from "./template.js";

let synth: ReturnType<typeof synthDrover>;
beforeAll(() => {
  synth = synthDrover();
});
afterAll(() => removeSynth(synth));

type Properties = Record<string, unknown>;

const ids = () => {
  const { events, tables, api } = synth.stack;
  return {
    main: logicalId(tables.main),
    bus: logicalId(events.bus),
    dlq: logicalId(events.deadLetterQueue),
    hooksQueue: logicalId(events.hooksQueue),
    hooksDlq: logicalId(events.hooksDeadLetterQueue),
    publisher: logicalId(events.publisher.fn),
    hooks: logicalId(events.hooks.fn),
    api: logicalId(api.api.fn),
  };
};

function only(type: string, filter: (properties: Properties) => boolean): Properties {
  const matching = Object.values(resources(synth.template, type))
    .map((resource) => resource.Properties ?? {})
    .filter(filter);
  expect(matching, type).toHaveLength(1);
  return matching[0] as Properties;
}

function environment(fnId: string): Record<string, unknown> {
  const properties = resources(synth.template, "AWS::Lambda::Function")[fnId]?.Properties;
  if (!properties) throw new Error(`no function ${fnId}`);
  return (properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

const mapping = (fnId: string) =>
  only(
    "AWS::Lambda::EventSourceMapping",
    (p) => JSON.stringify(p.FunctionName) === JSON.stringify({ Ref: fnId }),
  );

/** Whether an event (source mapping) filter pattern admits a value: each leaf lists the values allowed. */
function admits(pattern: unknown, value: unknown): boolean {
  if (Array.isArray(pattern))
    return pattern.some((allowed) =>
      allowed !== null && typeof allowed === "object" && "exists" in allowed
        ? (allowed as { exists: boolean }).exists === (value !== undefined)
        : allowed === value,
    );
  if (pattern === null || typeof pattern !== "object") return false;
  if (value === null || typeof value !== "object") return false;
  return Object.entries(pattern).every(([key, sub]) => admits(sub, (value as Record<string, unknown>)[key]));
}

const TENANT = "0b5f3a4e-8a7d-4c1e-9f00-1234567890ab";
const uuid = (n: number) => `6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f${n}`;
const now = "2026-01-01T00:00:00.000Z";

/** An INSERT of an item, as the main table's stream (and Lambda) hands it over. */
function insert(item: Record<string, unknown>): DynamoDBRecord {
  return {
    eventID: "1",
    eventName: "INSERT",
    eventSource: "aws:dynamodb",
    dynamodb: {
      SequenceNumber: "100",
      NewImage: marshall(item, { removeUndefinedValues: true }) as never,
    },
  };
}

const flowRunItem = () =>
  FlowRunEntity.toItem({
    id: uuid(1),
    tenant_id: TENANT,
    flow_id: uuid(2),
    flow_group_id: uuid(3),
    project_id: uuid(4),
    name: "run",
    version: 1,
    state: "Scheduled",
    serialized_state: { type: "Scheduled" },
    state_timestamp: now,
  } as never);

const taskRunItem = () =>
  TaskRunEntity.toItem({
    id: uuid(5),
    tenant_id: TENANT,
    flow_run_id: uuid(1),
    task_id: uuid(6),
    task_slug: "task",
    map_index: -1,
    version: 1,
    state: "Pending",
    serialized_state: { type: "Pending" },
    state_timestamp: now,
    created: now,
    updated: now,
  } as never);

describe("the event bus", () => {
  test("is a custom bus named after the stage, given to the API and events functions", () => {
    const { bus, api, publisher } = ids();
    expect(resources(synth.template, "AWS::Events::EventBus")[bus]?.Properties?.Name).toBe(
      "drover-dev-events",
    );
    synth.template.resourceCountIs("AWS::Events::EventBus", 1);
    for (const fn of [api, publisher]) expect(environment(fn).DROVER_EVENT_BUS_NAME).toEqual({ Ref: bus });
    synth.template.hasOutput("EventBusName", { Value: { Ref: bus } });
  });
});

describe("the events function", () => {
  test("reads the main table's stream from its trim horizon, in bisected batches reporting item failures", () => {
    const { main, publisher, dlq } = ids();
    const properties = mapping(publisher);
    expect(properties).toMatchObject({
      EventSourceArn: { "Fn::GetAtt": [main, "StreamArn"] },
      StartingPosition: "TRIM_HORIZON",
      BatchSize: EVENTS_BATCH_SIZE,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [dlq, "Arn"] } } },
    });
    expect(EVENTS_BATCH_SIZE).toBe(100);
    // Bounded: a batch the bus keeps refusing ends in the DLQ instead of stalling its shard.
    expect(properties.MaximumRetryAttempts).toBe(EVENTS_RETRY_ATTEMPTS);
    expect(EVENTS_RETRY_ATTEMPTS).toBeGreaterThan(0);
    expect(EVENTS_RETRY_ATTEMPTS).toBeLessThan(10_000);
    expect(properties.MaximumRecordAgeInSeconds).toBe(EVENTS_MAX_RECORD_AGE.toSeconds());
    // Within the stream's 24-hour retention.
    expect(EVENTS_MAX_RECORD_AGE.toSeconds()).toBeGreaterThanOrEqual(60);
    expect(EVENTS_MAX_RECORD_AGE.toSeconds()).toBeLessThan(24 * 3600);
    // The only consumer of the stream.
    const onStream = Object.values(resources(synth.template, "AWS::Lambda::EventSourceMapping")).filter((m) =>
      JSON.stringify(m.Properties?.EventSourceArn).includes("StreamArn"),
    );
    expect(onStream).toHaveLength(1);
  });

  test("is invoked only for flow-run and task-run items and agents marked silent (the stream filters)", () => {
    const filters = (mapping(ids().publisher).FilterCriteria as { Filters: { Pattern: string }[] }).Filters;
    expect(filters.map((filter) => JSON.parse(filter.Pattern))).toEqual([
      { dynamodb: { NewImage: { entity: { S: ["flow-run", "task-run"] } } } },
      { dynamodb: { NewImage: { entity: { S: ["agent"] }, silent_since: { S: [{ exists: true }] } } } },
    ]);
    expect([...STREAM_EVENT_ENTITIES]).toEqual(["flow-run", "task-run"]);
  });

  test("the filters admit every change core turns into events, of the items core writes, and no other item", () => {
    const patterns = (
      mapping(ids().publisher).FilterCriteria as { Filters: { Pattern: string }[] }
    ).Filters.map((f) => JSON.parse(f.Pattern));
    const admitted = (record: DynamoDBRecord) => patterns.some((p) => admits(p, record));
    // An agent marked silent is admitted and is an event; its polls are neither.
    const agent = {
      pk: `${TENANT}#agent#${uuid(5)}`,
      sk: "agent",
      entity: "agent",
      id: uuid(5),
      tenant_id: TENANT,
      last_queried: now,
      updated: now,
    };
    const marked: DynamoDBRecord = {
      eventName: "MODIFY",
      dynamodb: {
        NewImage: marshall({ ...agent, silent_since: now }) as never,
        OldImage: marshall(agent) as never,
      },
    };
    expect(eventsOfRecord(marked).map((e) => e.type)).toEqual(["AgentSilent"]);
    expect(admitted(marked)).toBe(true);
    const polled: DynamoDBRecord = { eventName: "MODIFY", dynamodb: { NewImage: marshall(agent) as never } };
    expect(eventsOfRecord(polled)).toEqual([]);
    expect(admitted(polled)).toBe(false);
    for (const item of [flowRunItem(), taskRunItem()]) {
      const record = insert(item);
      expect(eventsOfRecord(record).length, String(item.entity)).toBeGreaterThan(0);
      expect(admitted(record), String(item.entity)).toBe(true);
    }
    const other = insert({ pk: `${TENANT}#flow#${uuid(2)}`, sk: "flow", entity: "flow", tenant_id: TENANT });
    expect(eventsOfRecord(other)).toEqual([]);
    expect(admitted(other)).toBe(false);
    // A removal (TTL expiry, delete) has no new image: filtered out, and core ignores it too.
    const removal: DynamoDBRecord = {
      eventName: "REMOVE",
      dynamodb: { OldImage: marshall(flowRunItem()) as never },
    };
    expect(admitted(removal)).toBe(false);
    expect(eventsOfRecord(removal)).toEqual([]);
  });

  test("its environment names the bus only, and core's config accepts it", () => {
    const env = environment(ids().publisher);
    expect(env.DROVER_MAIN_TABLE).toBeUndefined();
    expect(env.DROVER_EVENT_BUS_NAME).toEqual({ Ref: ids().bus });
    const asDeployed = Object.fromEntries(
      Object.entries(env).map(([key, value]) => [
        key,
        typeof value === "string" ? value : "drover-dev-events",
      ]),
    );
    expect(parseConfig(asDeployed).eventBusName).toBe("drover-dev-events");
  });

  test("the events DLQ is encrypted and keeps what it gets for 14 days", () => {
    expect(resources(synth.template, "AWS::SQS::Queue")[ids().dlq]?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });
});

describe("cloud hooks", () => {
  test("a rule on the bus sends core's hook pattern (flow run state changes) to the hooks queue", () => {
    const { bus, hooksQueue, hooksDlq } = ids();
    const rule = only(
      "AWS::Events::Rule",
      (p) => JSON.stringify(p.EventBusName) === JSON.stringify({ Ref: bus }),
    );
    expect(rule.EventPattern).toEqual(HOOK_RULE_PATTERN);
    expect(HOOK_RULE_PATTERN.source).toEqual([EVENT_SOURCE]);
    expect(rule.State).toBe("ENABLED");
    // The whole envelope is the message (no input transformer), as the hooks function parses it.
    expect(rule.Targets).toEqual([
      {
        Id: expect.any(String),
        Arn: { "Fn::GetAtt": [hooksQueue, "Arn"] },
        DeadLetterConfig: { Arn: { "Fn::GetAtt": [hooksDlq, "Arn"] } },
      },
    ]);
  });

  test("only that rule may send to the hooks queue (and to its DLQ, what it could not deliver)", () => {
    const { hooksQueue, hooksDlq } = ids();
    const ruleArn = { "Fn::GetAtt": [logicalId(synth.stack.events.hookRule), "Arn"] };
    for (const queue of [hooksQueue, hooksDlq]) {
      const policy = only("AWS::SQS::QueuePolicy", (p) => referencedIds(p.Queues).has(queue));
      const allows = (policy.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement.filter(
        (s) => s.Effect === "Allow",
      );
      expect(allows, queue).toHaveLength(1);
      expect(allows[0]).toMatchObject({
        Principal: { Service: "events.amazonaws.com" },
        Condition: { ArnEquals: { "aws:SourceArn": ruleArn } },
      });
    }
  });

  test("the hooks queue is encrypted and moves a message to its DLQ after HOOKS_MAX_RECEIVES receives", () => {
    const { hooksQueue, hooksDlq } = ids();
    const queue = resources(synth.template, "AWS::SQS::Queue")[hooksQueue]?.Properties;
    expect(queue).toMatchObject({
      SqsManagedSseEnabled: true,
      RedrivePolicy: {
        deadLetterTargetArn: { "Fn::GetAtt": [hooksDlq, "Arn"] },
        maxReceiveCount: HOOKS_MAX_RECEIVES,
      },
    });
    expect(HOOKS_MAX_RECEIVES).toBe(5);
    // Six times the function timeout (AWS's guidance for SQS event sources).
    const timeout = resources(synth.template, "AWS::Lambda::Function")[ids().hooks]?.Properties?.Timeout;
    expect(timeout).toBe(HOOKS_TIMEOUT.toSeconds());
    expect(queue?.VisibilityTimeout).toBe(6 * (timeout as number));
    expect(resources(synth.template, "AWS::SQS::Queue")[hooksDlq]?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  test("a receive's attempts (with their backoff) fit in the hooks function's timeout", () => {
    const worstMs = ATTEMPTS_PER_RECEIVE * HOOK_TIMEOUT_MS + 500 + 1000 + 2000;
    expect(worstMs).toBeLessThan(HOOKS_TIMEOUT.toMilliseconds());
  });

  test("the hooks function consumes the queue in small batches, reporting partial batch failures", () => {
    const { hooks, hooksQueue } = ids();
    expect(mapping(hooks)).toMatchObject({
      EventSourceArn: { "Fn::GetAtt": [hooksQueue, "Arn"] },
      BatchSize: HOOKS_BATCH_SIZE,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    expect(HOOKS_BATCH_SIZE).toBeLessThanOrEqual(10);
  });

  test("its environment: the main table, the delivery timeout, private targets refused, the dashboard URL", () => {
    const env = environment(ids().hooks);
    expect(env).toMatchObject({
      DROVER_MAIN_TABLE: { Ref: ids().main },
      DROVER_HOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS),
      DROVER_HOOK_ALLOW_PRIVATE_TARGETS: "false",
      DROVER_PUBLIC_URL: {
        "Fn::Join": [
          "",
          ["https://", { "Fn::GetAtt": [logicalId(synth.stack.site.distribution), "DomainName"] }],
        ],
      },
    });
    expect(env.DROVER_KV_TABLE).toBeUndefined();
    expect(env.DROVER_LOGS_TABLE).toBeUndefined();
    const asDeployed = Object.fromEntries(
      Object.entries(env).map(([key, value]) => [
        key,
        typeof value === "string"
          ? value
          : key === "DROVER_PUBLIC_URL"
            ? "https://d111111abcdef8.cloudfront.net"
            : "resolved-at-deploy",
      ]),
    );
    const config = parseConfig(asDeployed);
    expect(config.events).toMatchObject({
      allowPrivateTargets: false,
      hookTimeoutMs: HOOK_TIMEOUT_MS,
      publicUrl: "https://d111111abcdef8.cloudfront.net",
    });
  });
});

describe("event and hook alarms", () => {
  const alarm = (id: string) =>
    only("AWS::CloudWatch::Alarm", (p) => p.AlarmName === `drover-dev-${id}`) as Properties & {
      Dimensions?: { Name: string; Value: unknown }[];
    };

  test("errors, stream lag and the DLQs of the events and hooks functions, and the hooks backlog, alarm", () => {
    const { publisher, hooks, dlq, hooksDlq, hooksQueue } = ids();
    const on = (id: string, metric: string, dimension: unknown, threshold: number) => {
      const properties = alarm(id);
      expect(properties.MetricName, id).toBe(metric);
      expect(
        properties.Dimensions?.map((d) => d.Value),
        id,
      ).toEqual([dimension]);
      expect(properties.Threshold, id).toBe(threshold);
      expect(properties.AlarmActions, id).toEqual([{ Ref: logicalId(synth.stack.monitoring.topic) }]);
    };
    on("EventsErrors", "Errors", { Ref: publisher }, 1);
    on("EventsIteratorAge", "IteratorAge", { Ref: publisher }, EVENTS_ITERATOR_AGE_ALARM_MS);
    on("EventsDeadLetters", "ApproximateNumberOfMessagesVisible", { "Fn::GetAtt": [dlq, "QueueName"] }, 1);
    on("HooksErrors", "Errors", { Ref: hooks }, 1);
    on(
      "HooksDeadLetters",
      "ApproximateNumberOfMessagesVisible",
      { "Fn::GetAtt": [hooksDlq, "QueueName"] },
      1,
    );
    on(
      "HooksBacklogAge",
      "ApproximateAgeOfOldestMessage",
      { "Fn::GetAtt": [hooksQueue, "QueueName"] },
      HOOKS_AGE_ALARM_SECONDS,
    );
  });

  test("a message retried for a failing hook (three visibility timeouts) does not trip the backlog alarm", () => {
    const visibility = resources(synth.template, "AWS::SQS::Queue")[ids().hooksQueue]?.Properties
      ?.VisibilityTimeout as number;
    expect(HOOKS_AGE_ALARM_SECONDS).toBeGreaterThan(3 * visibility);
  });

  test("the throttles alarm covers the events and hooks functions too", () => {
    const metrics = JSON.stringify(alarm("FunctionThrottles").Metrics);
    for (const fn of [ids().publisher, ids().hooks]) expect(metrics).toContain(`"Ref":"${fn}"`);
  });
});
