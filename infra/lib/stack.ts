import { CfnOutput, Stack, Tags } from "aws-cdk-lib";
import type { EventBus } from "aws-cdk-lib/aws-events";
import type { Construct } from "constructs";
import { Api } from "./api.js";
import { DashboardSite } from "./dashboard-site.js";
import { Events } from "./events.js";
import { Ingestion } from "./ingestion.js";
import { Monitoring } from "./monitoring.js";
import { Scheduler } from "./scheduler.js";
import type { StageSettings } from "./settings.js";
import { DroverTables } from "./tables.js";

export function stackName(settings: StageSettings): string {
  return `drover-${settings.stage}`;
}

/** One Drover control plane: everything a stage needs, in one stack. */
export class DroverStack extends Stack {
  readonly tables: DroverTables;
  readonly eventBus: EventBus;
  readonly events: Events;
  readonly ingestion: Ingestion;
  readonly api: Api;
  readonly scheduler: Scheduler;
  readonly site: DashboardSite;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, settings: StageSettings) {
    super(scope, id, {
      description: `Drover control plane (${settings.stage})`,
      terminationProtection: settings.production,
      // Without an account the stack is environment-agnostic for the account only: synth needs no
      // credentials and nothing is looked up.
      env: settings.env.account
        ? { account: settings.env.account, region: settings.env.region }
        : { region: settings.env.region },
    });
    Tags.of(this).add("drover:stage", settings.stage);

    this.tables = new DroverTables(this, "Tables", settings);
    this.ingestion = new Ingestion(this, "Ingestion", { settings, tables: this.tables });
    this.site = new DashboardSite(this, "Dashboard", { settings });
    const dashboardOrigin = `https://${this.site.distribution.distributionDomainName}`;
    // The main table's stream to the bus, and the bus's flow run state changes to cloud hooks.
    this.events = new Events(this, "Events", {
      settings,
      tables: this.tables,
      publicUrl: dashboardOrigin,
    });
    this.eventBus = this.events.bus;
    this.api = new Api(this, "Api", {
      settings,
      tables: this.tables,
      ingestQueue: this.ingestion.queue,
      eventBus: this.eventBus,
      corsOrigins: [dashboardOrigin, ...settings.extraCorsOrigins],
    });
    this.site.publish({
      settings,
      runtimeConfig: { stage: settings.stage, apiUrl: this.api.url, graphqlUrl: `${this.api.url}/graphql` },
    });
    this.scheduler = new Scheduler(this, "Scheduler", { settings, tables: this.tables });
    this.monitoring = new Monitoring(this, "Monitoring", {
      settings,
      api: this.api,
      scheduler: this.scheduler,
      ingestion: this.ingestion,
      events: this.events,
      tables: this.tables,
    });
    this.outputs(dashboardOrigin);
  }

  private outputs(dashboardOrigin: string): void {
    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output("GraphqlUrl", `${this.api.url}/graphql`, "Prefect/Drover API endpoint (PREFECT__CLOUD__API)");
    output(
      "ApiUrl",
      this.api.url,
      "HTTP API base URL (GraphQL at /graphql, key-value store at /kv/{key}, listing at /kv/?prefix=)",
    );
    output("DashboardUrl", dashboardOrigin, "Dashboard (CloudFront)");
    output(
      "MainTableName",
      this.tables.main.tableName,
      "DROVER_MAIN_TABLE for `npm run drover` against this stack",
    );
    output("KvTableName", this.tables.kv.tableName, "DROVER_KV_TABLE");
    output("LogsTableName", this.tables.logs.tableName, "DROVER_LOGS_TABLE");
    output("IngestQueueUrl", this.ingestion.queue.queueUrl, "DROVER_INGEST_QUEUE_URL");
    output(
      "IngestDeadLetterQueueUrl",
      this.ingestion.deadLetterQueue.queueUrl,
      "Where poison ingestion messages land",
    );
    output("EventBusName", this.eventBus.eventBusName, "DROVER_EVENT_BUS_NAME");
    output(
      "EventsDeadLetterQueueUrl",
      this.events.deadLetterQueue.queueUrl,
      "Stream batches the events function gave up on (shard and sequence range)",
    );
    output("HooksQueueUrl", this.events.hooksQueue.queueUrl, "DROVER_HOOKS_QUEUE_URL");
    output(
      "HooksDeadLetterQueueUrl",
      this.events.hooksDeadLetterQueue.queueUrl,
      "Where hook events still failing after their last receive land",
    );
    output("AlarmTopicArn", this.monitoring.topic.topicArn, "Subscribe here to receive alarm notifications");
    output("Region", this.region, "AWS_REGION for `npm run drover` against this stack");
  }
}
