import { Duration } from "aws-cdk-lib";
import { Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { Construct } from "constructs";
import { grantTable } from "./access.js";
import { DroverFunction } from "./drover-function.js";
import type { StageSettings } from "./settings.js";
import type { DroverTables } from "./tables.js";

/**
 * How many ticks may run at once. Overlapping ticks are safe (run ids are deterministic) but
 * a slow tick must not snowball into dozens of concurrent scans of the due-schedule index.
 */
export const SCHEDULER_CONCURRENCY = 2;

/** The scheduler: an EventBridge rule invokes the function every minute. */
export class Scheduler extends Construct {
  readonly function: DroverFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: { settings: StageSettings; tables: DroverTables }) {
    super(scope, id);
    const { settings, tables } = props;

    this.function = new DroverFunction(this, "Function", {
      name: "scheduler",
      settings,
      description: "Drover scheduler: creates due runs, marks late, zombie and lost runs",
      memorySize: 512,
      // Finishes before the next tick starts.
      timeout: Duration.seconds(55),
      // The logs table for the lines explaining what the health checks did to a run.
      environment: { DROVER_MAIN_TABLE: tables.main.tableName, DROVER_LOGS_TABLE: tables.logs.tableName },
      ...(settings.reserveConcurrency ? { reservedConcurrentExecutions: SCHEDULER_CONCURRENCY } : {}),
    });
    grantTable(this.function.fn, tables.tables.main, "readWrite");
    grantTable(this.function.fn, tables.tables.logs, "append");

    // A failed tick is not retried: the next one, a minute later, does the same work idempotently.
    this.function.fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.rule = new Rule(this, "EveryMinute", {
      description: `Drover ${settings.stage} scheduler tick`,
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(this.function.fn, { retryAttempts: 2, maxEventAge: Duration.minutes(1) })],
    });
  }
}
