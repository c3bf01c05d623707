import { Duration, Validations } from "aws-cdk-lib";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  type Metric,
  Stats,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import type { Api } from "./api.js";
import type { DroverFunction } from "./drover-function.js";
import { type Events, HOOKS_VISIBILITY_TIMEOUT } from "./events.js";
import type { Ingestion } from "./ingestion.js";
import type { Scheduler } from "./scheduler.js";
import type { StageSettings } from "./settings.js";
import type { DroverTables } from "./tables.js";

export type MonitoringProps = {
  settings: StageSettings;
  api: Api;
  scheduler: Scheduler;
  ingestion: Ingestion;
  events: Events;
  tables: DroverTables;
};

/** Oldest queued message age (seconds) that means ingestion is falling behind. */
export const INGEST_AGE_ALARM_SECONDS = 300;
/** How far behind the main table's stream (ms) the events function may fall before it alarms. */
export const EVENTS_ITERATOR_AGE_ALARM_MS = 5 * 60 * 1000;
/**
 * Oldest hook message age (seconds) that means deliveries are falling behind. A message whose hook
 * is failing waits a visibility timeout between receives, and SQS stops counting it in this metric
 * after its third receive: the threshold is above those three waits, so one failing target (the
 * user's, retried by design) does not alarm, while a stalled consumer does.
 */
export const HOOKS_AGE_ALARM_SECONDS = 3 * HOOKS_VISIBILITY_TIMEOUT.toSeconds() + 300;
const MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

/**
 * Alarms an operator acts on (API 5xx, throttled functions, messages in the DLQs, failing scheduler
 * ticks, ingestion, events or hooks falling behind or failing), all notifying one SNS topic, and a
 * dashboard of the stack.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { settings, api, scheduler, ingestion, events, tables } = props;
    const prefix = `drover-${settings.stage}`;
    this.prefix = prefix;
    const functions: Record<string, DroverFunction> = {
      api: api.api,
      kv: api.kv,
      scheduler: scheduler.function,
      logs: ingestion.consumer,
      events: events.publisher,
      hooks: events.hooks,
    };

    this.topic = new Topic(this, "AlarmTopic", {
      displayName: `Drover ${settings.stage} alarms`,
      enforceSSL: true,
    });
    Validations.of(this.topic).acknowledge({
      id: "AwsSolutions-SNS2",
      reason:
        "Alarm notifications carry no data beyond the alarm's name and state; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key would add a fixed monthly cost to every stage.",
    });
    if (settings.alarmEmail) this.topic.addSubscription(new EmailSubscription(settings.alarmEmail));

    const throttles = new MathExpression({
      label: "Throttles (all functions)",
      expression: Object.keys(functions).join(" + "),
      usingMetrics: Object.fromEntries(
        Object.entries(functions).map(([key, f]) => [
          key,
          f.fn.metricThrottles({ period: FIVE_MINUTES, statistic: Stats.SUM }),
        ]),
      ),
      period: FIVE_MINUTES,
    });

    this.alarm("Api5xx", {
      description: "The HTTP API answered 5xx responses (function errors or timeouts).",
      metric: api.httpApi.metricServerError({ period: FIVE_MINUTES, statistic: Stats.SUM }),
      threshold: 5,
      evaluationPeriods: 1,
    });
    this.alarm("FunctionThrottles", {
      description:
        "Lambda throttled invocations of a Drover function (account or reserved concurrency reached).",
      metric: throttles,
      threshold: 1,
      evaluationPeriods: 1,
    });
    this.alarm("IngestDeadLetters", {
      description:
        "Ingestion messages failed repeatedly and were parked in the DLQ: inspect and redrive them.",
      metric: ingestion.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: MINUTE,
        statistic: Stats.MAXIMUM,
      }),
      threshold: 1,
      evaluationPeriods: 1,
    });
    this.alarm("SchedulerErrors", {
      description: "Scheduler ticks are failing: runs are not being created or cleaned up.",
      metric: scheduler.function.fn.metricErrors({ period: MINUTE, statistic: Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    this.alarm("IngestBacklogAge", {
      description: `The oldest ingestion message is older than ${INGEST_AGE_ALARM_SECONDS} s: logs and states are delayed.`,
      metric: ingestion.queue.metricApproximateAgeOfOldestMessage({
        period: MINUTE,
        statistic: Stats.MAXIMUM,
      }),
      threshold: INGEST_AGE_ALARM_SECONDS,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
    });
    this.alarm("EventsErrors", {
      description:
        "The events function failed (crashed or timed out) on stream batches: events are delayed until it succeeds.",
      metric: events.publisher.fn.metricErrors({ period: FIVE_MINUTES, statistic: Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
    });
    this.alarm("EventsIteratorAge", {
      description: `The events function is more than ${EVENTS_ITERATOR_AGE_ALARM_MS / 60_000} minutes behind the main table's stream: state-change events and cloud hooks are delayed.`,
      metric: events.publisher.fn.metric("IteratorAge", { period: MINUTE, statistic: Stats.MAXIMUM }),
      threshold: EVENTS_ITERATOR_AGE_ALARM_MS,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
    });
    this.alarm("EventsDeadLetters", {
      description:
        "The events function gave up on stream batches (their shard and sequence range are in the events DLQ): their events were not published.",
      metric: events.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: MINUTE,
        statistic: Stats.MAXIMUM,
      }),
      threshold: 1,
      evaluationPeriods: 1,
    });
    this.alarm("HooksErrors", {
      description: "The hooks function failed (crashed or timed out): cloud hook deliveries are delayed.",
      metric: events.hooks.fn.metricErrors({ period: FIVE_MINUTES, statistic: Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
    });
    this.alarm("HooksDeadLetters", {
      description:
        "Hook events were parked in the hooks DLQ (a hook still failing on the last receive, or an event the bus could not deliver): inspect and redrive them.",
      metric: events.hooksDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: MINUTE,
        statistic: Stats.MAXIMUM,
      }),
      threshold: 1,
      evaluationPeriods: 1,
    });
    this.alarm("HooksBacklogAge", {
      description: `The oldest hooks message is older than ${HOOKS_AGE_ALARM_SECONDS} s: cloud hook deliveries are falling behind.`,
      metric: events.hooksQueue.metricApproximateAgeOfOldestMessage({
        period: MINUTE,
        statistic: Stats.MAXIMUM,
      }),
      threshold: HOOKS_AGE_ALARM_SECONDS,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
    });

    this.dashboard = new Dashboard(this, "Dashboard", {
      dashboardName: prefix,
      defaultInterval: Duration.hours(3),
    });
    const perFunction = (metric: (f: DroverFunction) => Metric) => Object.values(functions).map(metric);
    const label = (name: string) => ({ label: name });
    this.dashboard.addWidgets(
      new AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "API requests",
        left: [api.httpApi.metricCount({ statistic: Stats.SUM, ...label("requests") })],
        right: [
          api.httpApi.metricClientError({ statistic: Stats.SUM, ...label("4xx") }),
          api.httpApi.metricServerError({ statistic: Stats.SUM, ...label("5xx") }),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "API latency (ms)",
        left: [
          api.httpApi.metricLatency({ statistic: Stats.percentile(50), ...label("p50") }),
          api.httpApi.metricLatency({ statistic: Stats.percentile(99), ...label("p99") }),
        ],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Function errors and throttles",
        left: Object.entries(functions).map(([key, f]) =>
          f.fn.metricErrors({ statistic: Stats.SUM, ...label(`${key} errors`) }),
        ),
        right: [throttles],
        width: 12,
      }),
      new GraphWidget({
        title: "Function duration p99 (ms)",
        left: Object.entries(functions).map(([key, f]) =>
          f.fn.metricDuration({ statistic: Stats.percentile(99), ...label(key) }),
        ),
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Ingestion queue",
        left: [
          ingestion.queue.metricNumberOfMessagesSent({ statistic: Stats.SUM, ...label("sent") }),
          ingestion.queue.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            ...label("waiting"),
          }),
          ingestion.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            ...label("DLQ"),
          }),
        ],
        right: [
          ingestion.queue.metricApproximateAgeOfOldestMessage({
            statistic: Stats.MAXIMUM,
            ...label("oldest (s)"),
          }),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "DynamoDB consumed capacity",
        left: Object.entries(tables.tables).map(([name, { table }]) =>
          table.metricConsumedReadCapacityUnits({ statistic: Stats.SUM, ...label(`${name} read`) }),
        ),
        right: Object.entries(tables.tables).map(([name, { table }]) =>
          table.metricConsumedWriteCapacityUnits({ statistic: Stats.SUM, ...label(`${name} write`) }),
        ),
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Events: stream lag (ms) and DLQ",
        left: [
          events.publisher.fn.metric("IteratorAge", { statistic: Stats.MAXIMUM, ...label("iterator age") }),
        ],
        right: [
          events.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            ...label("DLQ"),
          }),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: "Hooks queue",
        left: [
          events.hooksQueue.metricNumberOfMessagesSent({ statistic: Stats.SUM, ...label("sent") }),
          events.hooksQueue.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            ...label("waiting"),
          }),
          events.hooksDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
            statistic: Stats.MAXIMUM,
            ...label("DLQ"),
          }),
        ],
        right: [
          events.hooksQueue.metricApproximateAgeOfOldestMessage({
            statistic: Stats.MAXIMUM,
            ...label("oldest (s)"),
          }),
        ],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: "Concurrent executions",
        left: perFunction((f) => f.fn.metric("ConcurrentExecutions", { statistic: Stats.MAXIMUM })),
        width: 24,
      }),
    );
  }

  private alarm(
    id: string,
    props: {
      description: string;
      metric: Metric | MathExpression;
      threshold: number;
      evaluationPeriods: number;
      datapointsToAlarm?: number;
    },
  ): Alarm {
    const alarm = new Alarm(this, id, {
      alarmName: `${this.prefix}-${id}`,
      alarmDescription: props.description,
      metric: props.metric,
      threshold: props.threshold,
      evaluationPeriods: props.evaluationPeriods,
      ...(props.datapointsToAlarm !== undefined ? { datapointsToAlarm: props.datapointsToAlarm } : {}),
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
