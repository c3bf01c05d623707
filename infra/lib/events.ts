import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { EventBus, type EventPattern, Rule } from "aws-cdk-lib/aws-events";
import { SqsQueue } from "aws-cdk-lib/aws-events-targets";
import { FilterCriteria, FilterRule, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq, SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { Queue, QueueEncryption, type QueueProps } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { HOOK_RULE_PATTERN } from "#core/events/types.js";
import { ATTEMPTS_PER_RECEIVE, FIRST_RETRY_MS, HOOKS_MAX_RECEIVES } from "#core/hook/dispatch.js";
import { grantTableItems } from "./access.js";
import { DroverFunction } from "./drover-function.js";
import type { StageSettings } from "./settings.js";
import type { DroverTables } from "./tables.js";

/**
 * The `entity` values of the main-table items whose changes are events (core/src/events/changes.ts
 * reads flow runs and task runs only): the stream's filter, so no other write invokes the function.
 */
export const STREAM_EVENT_ENTITIES = ["flow-run", "task-run"] as const;

/** Stream batches: up to 100 changes, retried whole (bisected) while the bus refuses them. */
export const EVENTS_BATCH_SIZE = 100;
/**
 * A batch is failed only when the bus still refused its events after the function's own retries
 * (core/src/events/bus.ts), i.e. while EventBridge is unavailable: keep retrying for the better
 * part of an outage, then park the batch's shard and sequence range in the DLQ (replayable from the
 * stream while it keeps the changes, 24 hours) so the shard does not stall for good.
 */
export const EVENTS_RETRY_ATTEMPTS = 100;
export const EVENTS_MAX_RECORD_AGE = Duration.hours(6);
const EVENTS_TIMEOUT = Duration.seconds(60);

/** One delivery attempt to a hook's URL (DROVER_HOOK_TIMEOUT_MS, core's default). */
export const HOOK_TIMEOUT_MS = 5000;
/**
 * A receive tries each pending hook ATTEMPTS_PER_RECEIVE times with a doubling backoff from
 * FIRST_RETRY_MS (at most about 4 x 5 s + 3.5 s = 23.5 s); the hooks of one event, and the
 * messages of a batch, are delivered concurrently. A minute leaves room for a slow first call.
 */
export const HOOKS_TIMEOUT = Duration.seconds(60);
const WORST_RECEIVE_MS =
  ATTEMPTS_PER_RECEIVE * HOOK_TIMEOUT_MS + FIRST_RETRY_MS * (2 ** (ATTEMPTS_PER_RECEIVE - 1) - 1);
if (WORST_RECEIVE_MS >= HOOKS_TIMEOUT.toMilliseconds()) {
  throw new Error(`A hooks receive may take ${WORST_RECEIVE_MS} ms, longer than the function timeout`);
}
/** AWS's guidance for SQS event sources: six times the function timeout. */
export const HOOKS_VISIBILITY_TIMEOUT = Duration.seconds(HOOKS_TIMEOUT.toSeconds() * 6);
export const HOOKS_BATCH_SIZE = 5;
/** The most hooks functions at once: slow targets must not take the account's concurrency. */
export const HOOKS_MAX_CONCURRENCY = 5;

/** The CDK form of a JSON event pattern (`detail-type` is `detailType` there). */
function eventPattern(pattern: typeof HOOK_RULE_PATTERN): EventPattern {
  return { source: [...pattern.source], detailType: [...pattern["detail-type"]] };
}

export type EventsProps = {
  settings: StageSettings;
  tables: DroverTables;
  /** The dashboard's URL, for links in hook messages (DROVER_PUBLIC_URL). */
  publicUrl: string;
};

/**
 * The event backbone (docs/events.md). The main table's stream is the outbox: the events function
 * reads the flow-run and task-run changes from it and puts their events on the stage's bus. A rule
 * on the bus sends flow run state changes to the hooks queue, whose consumer, the hooks function,
 * delivers them to the workspaces' cloud hooks; a message still failing after HOOKS_MAX_RECEIVES
 * receives lands in the hooks DLQ. Stream batches that cannot be published land in the events DLQ.
 */
export class Events extends Construct {
  readonly bus: EventBus;
  readonly publisher: DroverFunction;
  readonly deadLetterQueue: Queue;
  readonly hookRule: Rule;
  readonly hooksQueue: Queue;
  readonly hooksDeadLetterQueue: Queue;
  readonly hooks: DroverFunction;

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id);
    const { settings, tables } = props;
    const removalPolicy = settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const queue = (queueId: string, extra: QueueProps = {}) =>
      new Queue(this, queueId, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        removalPolicy,
        ...extra,
      });

    this.bus = new EventBus(this, "Bus", {
      eventBusName: `drover-${settings.stage}-events`,
      description: `Drover ${settings.stage} state-change events`,
    });

    // The publisher: stream in, bus out. No table access: the records carry the items.
    this.deadLetterQueue = queue("DeadLetterQueue");
    Validations.of(this.deadLetterQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself a dead-letter queue: the on-failure destination of the events function's stream event source mapping (Lambda sends it the shard and sequence range of a batch it gave up on), so it has no DLQ of its own.",
    });
    this.publisher = new DroverFunction(this, "Publisher", {
      name: "events",
      settings,
      description: "Drover events: main-table stream changes to the event bus",
      memorySize: 512,
      timeout: EVENTS_TIMEOUT,
      environment: { DROVER_EVENT_BUS_NAME: this.bus.eventBusName },
    });
    this.bus.grantPutEventsTo(this.publisher.fn);
    this.publisher.fn.addEventSource(
      new DynamoEventSource(tables.main, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: EVENTS_BATCH_SIZE,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: EVENTS_RETRY_ATTEMPTS,
        maxRecordAge: EVENTS_MAX_RECORD_AGE,
        onFailure: new SqsDlq(this.deadLetterQueue),
        filters: [
          FilterCriteria.filter({
            dynamodb: { NewImage: { entity: { S: FilterRule.or(...STREAM_EVENT_ENTITIES) } } },
          }),
          // An agent marked silent by the scheduler (its polls, which clear the mark, pass no filter).
          FilterCriteria.filter({
            dynamodb: {
              NewImage: {
                entity: { S: FilterRule.isEqual("agent") },
                silent_since: { S: FilterRule.exists() },
              },
            },
          }),
        ],
      }),
    );
    Validations.of(this.publisher.role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "dynamodb:ListStreams, granted by the DynamoDB event source for the main table's stream, supports no resource-level permission; the stream's records are read (DescribeStream, GetShardIterator, GetRecords) on the stream's ARN only.",
    });

    // The hooks: the bus's hook rule feeds the queue, the hooks function delivers.
    this.hooksDeadLetterQueue = queue("HooksDeadLetterQueue");
    this.hooksQueue = queue("HooksQueue", {
      visibilityTimeout: HOOKS_VISIBILITY_TIMEOUT,
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.hooksDeadLetterQueue, maxReceiveCount: HOOKS_MAX_RECEIVES },
    });
    this.hookRule = new Rule(this, "HookRule", {
      description: `Drover ${settings.stage}: flow run state changes to the cloud hooks queue`,
      eventBus: this.bus,
      eventPattern: eventPattern(HOOK_RULE_PATTERN),
      // The whole envelope is the message (core/src/hook/dispatch.ts parseBusMessage); an event the
      // bus could not deliver is parked, in the same form, with the messages that failed delivery.
      targets: [new SqsQueue(this.hooksQueue, { deadLetterQueue: this.hooksDeadLetterQueue })],
    });

    this.hooks = new DroverFunction(this, "Hooks", {
      name: "hooks",
      settings,
      description: "Drover cloud hooks: delivers flow run state changes to webhooks, Slack and messages",
      memorySize: 512,
      timeout: HOOKS_TIMEOUT,
      environment: {
        DROVER_MAIN_TABLE: tables.main.tableName,
        DROVER_HOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS),
        // Hook URLs are the users': never private, loopback or link-local addresses on AWS.
        DROVER_HOOK_ALLOW_PRIVATE_TARGETS: "false",
        DROVER_PUBLIC_URL: props.publicUrl,
      },
    });
    // The hooks and automations of a workspace (Query on their partition), the workspace and the
    // flow group (GetItem), a batch's delivery records (BatchGetItem, BatchWriteItem, PutItem),
    // messages and automation timers (PutItem), failure streaks, firings and a flow's schedule
    // paused by an automation (UpdateItem): base-table keys only, no index.
    grantTableItems(this.hooks.fn, tables.tables.main, [
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:Query",
      "dynamodb:PutItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:UpdateItem",
    ]);
    // maxConcurrency rather than reserved concurrency, as for ingestion: a reservation would
    // throttle the poller and push messages towards the DLQ.
    this.hooks.fn.addEventSource(
      new SqsEventSource(this.hooksQueue, {
        batchSize: HOOKS_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: HOOKS_MAX_CONCURRENCY,
      }),
    );
  }
}
