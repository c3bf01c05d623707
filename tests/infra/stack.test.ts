import { Match } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseConfig } from "#core/config.js";
import { MAIN_TABLE, TABLES, TTL_ATTRIBUTE } from "#core/dynamo/tables.js";
import { FUNCTIONS, NODE_OPTIONS } from "../../infra/lib/bundling.js";
import { SESSION_SECRET_ENV, SESSION_SECRET_LENGTH } from "../../infra/lib/session-secret.js";
import { removeSynth, synthDrover } from "./synth.js";
import { logicalId, referencedIds, resources } from "./template.js";

let synth: ReturnType<typeof synthDrover>;
beforeAll(() => {
  synth = synthDrover();
});
afterAll(() => removeSynth(synth));

const functions = () => ({
  api: synth.stack.api.api,
  kv: synth.stack.api.kv,
  scheduler: synth.stack.scheduler.function,
  logs: synth.stack.ingestion.consumer,
  events: synth.stack.events.publisher,
  hooks: synth.stack.events.hooks,
});
const fnIds = () =>
  Object.fromEntries(Object.entries(functions()).map(([name, f]) => [name, logicalId(f.fn)])) as Record<
    keyof ReturnType<typeof functions>,
    string
  >;

function fnProperties(id: string): Record<string, unknown> {
  const fn = resources(synth.template, "AWS::Lambda::Function")[id];
  if (!fn?.Properties) throw new Error(`no function ${id}`);
  return fn.Properties;
}

function environment(id: string): Record<string, unknown> {
  return (fnProperties(id).Environment as { Variables: Record<string, unknown> }).Variables;
}

describe("tables", () => {
  test("one on-demand table per table of core's design, with PITR and TTL on its TTL attribute", () => {
    synth.template.resourceCountIs("AWS::DynamoDB::Table", TABLES.length);
    for (const definition of TABLES) {
      synth.template.hasResourceProperties("AWS::DynamoDB::Table", {
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [
          { AttributeName: definition.pk, KeyType: "HASH" },
          { AttributeName: definition.sk, KeyType: "RANGE" },
        ],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      });
    }
  });

  test("the main table has exactly the indexes tables.ts declares, with their projections", () => {
    const main = resources(synth.template, "AWS::DynamoDB::Table")[logicalId(synth.stack.tables.main)];
    const indexes = main?.Properties?.GlobalSecondaryIndexes as { IndexName: string; KeySchema: unknown }[];
    expect(indexes.map((index) => index.IndexName)).toEqual(MAIN_TABLE.indexes.map((index) => index.name));
    for (const index of MAIN_TABLE.indexes) {
      expect(indexes.find((candidate) => candidate.IndexName === index.name)).toEqual({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.pk, KeyType: "HASH" },
          { AttributeName: index.sk, KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: index.projection ?? "ALL" },
      });
    }
    expect(indexes.find((index) => index.IndexName === "gsi4")).toMatchObject({
      Projection: { ProjectionType: "KEYS_ONLY" },
    });
  });

  test("each table has the change stream core declares: the main table's, new and old images, is the events' outbox", () => {
    expect(MAIN_TABLE.stream).toBe("NEW_AND_OLD_IMAGES");
    const tables = resources(synth.template, "AWS::DynamoDB::Table");
    for (const definition of TABLES) {
      const table = tables[logicalId(synth.stack.tables.tables[definition.logicalName].table)];
      expect(table?.Properties?.StreamSpecification, definition.logicalName).toEqual(
        definition.stream ? { StreamViewType: definition.stream } : undefined,
      );
    }
  });

  test("a dev stage's tables are deleted with the stack and not deletion-protected", () => {
    for (const table of Object.values(resources(synth.template, "AWS::DynamoDB::Table"))) {
      expect(table).toMatchObject({ DeletionPolicy: "Delete" });
      expect(table.Properties?.DeletionProtectionEnabled).toBe(false);
    }
  });
});

describe("functions", () => {
  test("every function runs Node.js 22 on arm64 with JSON logs into its own log group", () => {
    for (const f of Object.values(functions())) {
      expect(fnProperties(logicalId(f.fn))).toMatchObject({
        Runtime: "nodejs22.x",
        Architectures: ["arm64"],
        Handler: "index.handler",
        LoggingConfig: {
          LogFormat: "JSON",
          ApplicationLogLevel: "INFO",
          LogGroup: { Ref: logicalId(f.logGroup) },
        },
      });
    }
    synth.template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 14 });
  });

  test("every function gets the stage, its Powertools service name and source-mapped stack traces", () => {
    for (const [name, id] of Object.entries(fnIds())) {
      expect(environment(id)).toMatchObject({
        DROVER_STAGE: "dev",
        POWERTOOLS_SERVICE_NAME: FUNCTIONS[name as keyof typeof FUNCTIONS].service,
        POWERTOOLS_LOG_LEVEL: "INFO",
        NODE_OPTIONS,
      });
    }
  });

  test("the API function's environment names the stack's tables, queue and bus, and core's config accepts it", () => {
    const env = environment(fnIds().api);
    const { tables, ingestion, eventBus } = synth.stack;
    expect(env).toMatchObject({
      DROVER_MAIN_TABLE: { Ref: logicalId(tables.main) },
      DROVER_KV_TABLE: { Ref: logicalId(tables.kv) },
      DROVER_LOGS_TABLE: { Ref: logicalId(tables.logs) },
      DROVER_INGEST_QUEUE_URL: { Ref: logicalId(ingestion.queue) },
      DROVER_EVENT_BUS_NAME: { Ref: logicalId(eventBus) },
    });
    expect(env.DROVER_DYNAMODB_ENDPOINT).toBeUndefined();
    // What CloudFormation resolves at deploy: names, and a generated 64-character session secret.
    const asDeployed = Object.fromEntries(
      Object.entries(env).map(([key, value]) => [
        key,
        typeof value === "string"
          ? value
          : key === SESSION_SECRET_ENV
            ? "s".repeat(SESSION_SECRET_LENGTH)
            : "resolved-at-deploy",
      ]),
    );
    expect(parseConfig(asDeployed).tables.main).toBe("resolved-at-deploy");
  });

  test("the KV function gets the main table's name (REST callers authenticate with its API keys)", () => {
    const env = environment(fnIds().kv);
    const { tables } = synth.stack;
    expect(env).toMatchObject({
      DROVER_KV_TABLE: { Ref: logicalId(tables.kv) },
      DROVER_MAIN_TABLE: { Ref: logicalId(tables.main) },
    });
    expect(env.DROVER_LOGS_TABLE).toBeUndefined();
    expect(env.DROVER_DYNAMODB_ENDPOINT).toBeUndefined();
  });

  test("the API and KV functions verify sessions with one generated secret, resolved at deploy", () => {
    const secrets = Object.entries(resources(synth.template, "AWS::SecretsManager::Secret"));
    expect(secrets).toHaveLength(1);
    const [secretId, secret] = secrets[0] ?? [];
    expect(secretId).toBe(logicalId(synth.stack.api.sessionSecret.secret));
    // Generated by Secrets Manager, long enough for core's config (at least 32 characters).
    expect(secret?.Properties?.GenerateSecretString).toMatchObject({
      PasswordLength: SESSION_SECRET_LENGTH,
      ExcludePunctuation: true,
    });
    expect(SESSION_SECRET_LENGTH).toBeGreaterThanOrEqual(32);
    const reference = {
      "Fn::Join": ["", ["{{resolve:secretsmanager:", { Ref: secretId }, ":SecretString:::}}"]],
    };
    const { api, kv, ...others } = fnIds();
    expect(environment(api)[SESSION_SECRET_ENV]).toEqual(reference);
    expect(environment(kv)[SESSION_SECRET_ENV]).toEqual(reference);
    for (const [name, id] of Object.entries(others))
      expect(environment(id)[SESSION_SECRET_ENV], name).toBeUndefined();
    // The value reaches the functions only through that reference: no role may read the secret.
    expect(JSON.stringify(synth.template.toJSON())).not.toContain("secretsmanager:GetSecretValue");
  });
});

describe("HTTP API", () => {
  const integrationTarget = (routeKey: string) => {
    const route = Object.values(resources(synth.template, "AWS::ApiGatewayV2::Route")).find(
      (candidate) => candidate.Properties?.RouteKey === routeKey,
    );
    const integrationId = JSON.stringify(route?.Properties?.Target).match(/"Ref":"([^"]+)"/)?.[1] ?? "";
    const integration = resources(synth.template, "AWS::ApiGatewayV2::Integration")[integrationId];
    return JSON.stringify(integration?.Properties?.IntegrationUri);
  };

  test("GraphQL routes go to the API function and KV routes to the KV function", () => {
    const { api, kv } = fnIds();
    for (const key of ["POST /graphql", "GET /graphql"]) expect(integrationTarget(key)).toContain(api);
    for (const key of ["GET /kv/{key+}", "PUT /kv/{key+}", "DELETE /kv/{key+}"])
      expect(integrationTarget(key)).toContain(kv);
    synth.template.resourceCountIs("AWS::ApiGatewayV2::Route", 6);
    synth.template.allResourcesProperties("AWS::ApiGatewayV2::Integration", { PayloadFormatVersion: "2.0" });
  });

  test("the KV listing (GET /kv/?prefix=&limit=&offset=) is routed to the KV function, and may invoke it", () => {
    const { kv } = fnIds();
    // A route path cannot end in "/"; API Gateway sends both /kv and /kv/ to `GET /kv`.
    expect(integrationTarget("GET /kv")).toContain(kv);
    const routeKeys = Object.values(resources(synth.template, "AWS::ApiGatewayV2::Route")).map(
      (route) => route.Properties?.RouteKey,
    );
    expect(routeKeys.filter((key) => String(key).endsWith(" /kv"))).toEqual(["GET /kv"]);
    const permissions = Object.values(resources(synth.template, "AWS::Lambda::Permission")).filter(
      (permission) => JSON.stringify(permission.Properties?.FunctionName).includes(kv),
    );
    expect(permissions.some((p) => JSON.stringify(p.Properties?.SourceArn).endsWith('/*/*/kv"]]}'))).toBe(
      true,
    );
  });

  test("CORS allows the dashboard's CloudFront origin and the headers Prefect clients send", () => {
    synth.template.hasResourceProperties("AWS::ApiGatewayV2::Api", {
      CorsConfiguration: {
        AllowOrigins: [
          {
            "Fn::Join": [
              "",
              ["https://", { "Fn::GetAtt": [logicalId(synth.stack.site.distribution), "DomainName"] }],
            ],
          },
        ],
        AllowHeaders: Match.arrayWith(["authorization", "content-type", "x-prefect-tenant-id"]),
      },
    });
  });

  test("the default stage throttles every route and writes JSON access logs", () => {
    synth.template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp("\\$context.requestId"),
      },
    });
  });
});

describe("scheduler", () => {
  test("an EventBridge rule invokes the scheduler every minute", () => {
    synth.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      Targets: [Match.objectLike({ Arn: { "Fn::GetAtt": [fnIds().scheduler, "Arn"] } })],
    });
  });

  test("ticks are bounded in concurrency and a failed tick is not retried (the next tick redoes it)", () => {
    expect(fnProperties(fnIds().scheduler).ReservedConcurrentExecutions).toBe(2);
    synth.template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: fnIds().scheduler },
      MaximumRetryAttempts: 0,
    });
  });
});

describe("ingestion", () => {
  test("the logs function consumes the queue in windows of batches and reports partial batch failures", () => {
    synth.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: fnIds().logs },
      EventSourceArn: { "Fn::GetAtt": [logicalId(synth.stack.ingestion.queue), "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 2,
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  test("the queue is encrypted, TLS-only, and moves a message to the DLQ after 5 failed receives", () => {
    synth.template.hasResourceProperties("AWS::SQS::Queue", {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      RedrivePolicy: {
        deadLetterTargetArn: { "Fn::GetAtt": [logicalId(synth.stack.ingestion.deadLetterQueue), "Arn"] },
        maxReceiveCount: 5,
      },
    });
  });

  test("every queue of the stack is encrypted and refuses requests without TLS", () => {
    const queues = resources(synth.template, "AWS::SQS::Queue");
    // Ingestion, its DLQ, the events DLQ, the hooks queue and its DLQ.
    expect(Object.keys(queues)).toHaveLength(5);
    const policies = Object.values(resources(synth.template, "AWS::SQS::QueuePolicy"));
    for (const [id, queue] of Object.entries(queues)) {
      expect(queue.Properties?.SqsManagedSseEnabled, id).toBe(true);
      const statements = policies
        .filter((policy) => referencedIds(policy.Properties?.Queues).has(id))
        .flatMap(
          (policy) =>
            (policy.Properties?.PolicyDocument as { Statement?: unknown[] } | undefined)?.Statement ?? [],
        );
      expect(statements, id).toContainEqual(
        expect.objectContaining({
          Effect: "Deny",
          Action: "sqs:*",
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        }),
      );
    }
  });
});

describe("dashboard", () => {
  test("the bucket is private and served only through CloudFront with origin access control", () => {
    synth.template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: "s3/" }),
    });
    synth.template.resourceCountIs("AWS::CloudFront::OriginAccessControl", 1);
    synth.template.hasResourceProperties("AWS::CloudFront::Distribution", {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: "index.html",
        Logging: Match.objectLike({ Prefix: "cloudfront/" }),
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: "redirect-to-https" }),
        Origins: [Match.objectLike({ OriginAccessControlId: Match.anyValue() })],
      }),
    });
  });

  test("the site is published with a config.json naming the API", () => {
    const [deployment, ...others] = Object.values(resources(synth.template, "Custom::CDKBucketDeployment"));
    expect(others).toHaveLength(0);
    expect(deployment?.Properties).toMatchObject({
      DestinationBucketName: { Ref: logicalId(synth.stack.site.bucket) },
      DistributionPaths: ["/*"],
    });
    expect([...referencedIds(deployment?.Properties?.SourceMarkers)]).toContain(
      logicalId(synth.stack.api.httpApi),
    );
  });
});

describe("operations", () => {
  test("the operational alarms notify the alarm topic", () => {
    const names = Object.values(resources(synth.template, "AWS::CloudWatch::Alarm")).map(
      (alarm) => alarm.Properties?.AlarmName,
    );
    expect(names.sort()).toEqual(
      [
        "Api5xx",
        "EventsDeadLetters",
        "EventsErrors",
        "EventsIteratorAge",
        "FunctionThrottles",
        "HooksBacklogAge",
        "HooksDeadLetters",
        "HooksErrors",
        "IngestBacklogAge",
        "IngestDeadLetters",
        "SchedulerErrors",
      ].map((id) => `drover-dev-${id}`),
    );
    synth.template.allResourcesProperties("AWS::CloudWatch::Alarm", {
      AlarmActions: [{ Ref: logicalId(synth.stack.monitoring.topic) }],
    });
    synth.template.hasResourceProperties("AWS::CloudWatch::Dashboard", { DashboardName: "drover-dev" });
  });

  test("outputs give the URLs and the names the CLI needs", () => {
    for (const output of [
      "GraphqlUrl",
      "ApiUrl",
      "DashboardUrl",
      "MainTableName",
      "Region",
      "IngestDeadLetterQueueUrl",
      "EventBusName",
      "EventsDeadLetterQueueUrl",
      "HooksQueueUrl",
      "HooksDeadLetterQueueUrl",
    ]) {
      synth.template.hasOutput(output, {});
    }
    synth.template.hasOutput("MainTableName", { Value: { Ref: logicalId(synth.stack.tables.main) } });
  });
});
