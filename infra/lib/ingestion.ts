import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { grantTable } from "./access.js";
import { DroverFunction } from "./drover-function.js";
import type { StageSettings } from "./settings.js";
import type { DroverTables } from "./tables.js";

const CONSUMER_TIMEOUT = Duration.seconds(30);
/** Redeliveries before a message is parked in the DLQ. */
export const MAX_RECEIVE_COUNT = 5;

/**
 * Log and state ingestion: the API puts messages on the queue and answers at once; the logs
 * function consumes them in batches, reports the records that failed (only those come back), and
 * after MAX_RECEIVE_COUNT failed receives a message lands in the DLQ, where an alarm sees it.
 */
export class Ingestion extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly consumer: DroverFunction;

  constructor(scope: Construct, id: string, props: { settings: StageSettings; tables: DroverTables }) {
    super(scope, id);
    const { settings, tables } = props;
    const removalPolicy = settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    this.queue = new Queue(this, "Queue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS's guidance for Lambda consumers: six times the function timeout, so a batch that is
      // retried inside the batching window does not become visible again while still in flight.
      visibilityTimeout: Duration.seconds(CONSUMER_TIMEOUT.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
      removalPolicy,
    });

    this.consumer = new DroverFunction(this, "Consumer", {
      name: "logs",
      settings,
      description: "Drover log and state ingestion (SQS consumer)",
      memorySize: 512,
      timeout: CONSUMER_TIMEOUT,
      environment: {
        DROVER_MAIN_TABLE: tables.main.tableName,
        DROVER_LOGS_TABLE: tables.logs.tableName,
        DROVER_INGEST_QUEUE_URL: this.queue.queueUrl,
        // Lines DynamoDB refuses are parked here alone, so their siblings are stored.
        DROVER_INGEST_DLQ_URL: this.deadLetterQueue.queueUrl,
      },
    });
    this.deadLetterQueue.grantSendMessages(this.consumer.fn);
    grantTable(this.consumer.fn, tables.tables.logs, "append");
    grantTable(this.consumer.fn, tables.tables.main, "readWrite");

    // maxConcurrency (not reserved concurrency) bounds the consumers: a reservation would throttle
    // the poller and push healthy messages towards the DLQ.
    this.consumer.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(2),
        reportBatchItemFailures: true,
        maxConcurrency: settings.ingestMaxConcurrency,
      }),
    );
  }
}
