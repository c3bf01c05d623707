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
import type { Ingestion } from "./ingestion.js";
import type { Scheduler } from "./scheduler.js";
import type { StageSettings } from "./settings.js";
import type { DroverTables } from "./tables.js";

export type MonitoringProps = {
  settings: StageSettings;
  api: Api;
  scheduler: Scheduler;
  ingestion: Ingestion;
  tables: DroverTables;
};

/** Oldest queued message age (seconds) that means ingestion is falling behind. */
export const INGEST_AGE_ALARM_SECONDS = 300;
const MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);

/**
 * Alarms an operator acts on (API 5xx, throttled functions, messages in the DLQ, failing scheduler
 * ticks, ingestion falling behind), all notifying one SNS topic, and a dashboard of the stack.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { settings, api, scheduler, ingestion, tables } = props;
    const prefix = `drover-${settings.stage}`;
    this.prefix = prefix;
    const functions: Record<string, DroverFunction> = {
      api: api.api,
      kv: api.kv,
      scheduler: scheduler.function,
      logs: ingestion.consumer,
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
