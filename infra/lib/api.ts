import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type { EventBus } from "aws-cdk-lib/aws-events";
import { Key } from "aws-cdk-lib/aws-kms";
import { LogGroup } from "aws-cdk-lib/aws-logs";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { grantApiKeyLookup, grantTable } from "./access.js";
import { DroverFunction } from "./drover-function.js";
import { SessionSecret } from "./session-secret.js";
import type { StageSettings } from "./settings.js";
import type { DroverTables } from "./tables.js";

export type ApiProps = {
  settings: StageSettings;
  tables: DroverTables;
  ingestQueue: Queue;
  eventBus: EventBus;
  /** Browser origins allowed to call the API (the dashboard's, plus any configured). */
  corsOrigins: string[];
};

/** Request headers the dashboard and Prefect clients send. */
const CORS_HEADERS = ["authorization", "content-type", "x-prefect-tenant-id", "x-request-id"];

const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: "$context.requestId",
  ip: "$context.identity.sourceIp",
  time: "$context.requestTime",
  method: "$context.httpMethod",
  route: "$context.routeKey",
  status: "$context.status",
  responseLength: "$context.responseLength",
  latencyMs: "$context.responseLatency",
  integrationLatencyMs: "$context.integrationLatency",
  integrationError: "$context.integrationErrorMessage",
  userAgent: "$context.identity.userAgent",
});

/**
 * The HTTP API: `POST|GET /graphql` on the API function, `GET|PUT|DELETE /kv/{key+}` and the
 * listing `GET /kv/` on the KV function, CORS for the dashboard, stage-wide throttling and JSON
 * access logs. Both functions authenticate callers themselves (API keys in the main table, or
 * dashboard session tokens signed with the stage's session secret).
 */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly api: DroverFunction;
  readonly kv: DroverFunction;
  readonly sessionSecret: SessionSecret;
  /** Seals workspace secrets (envelope encryption, core/src/secret/cipher.ts); only the API uses it. */
  readonly secretsKey: Key;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { settings, tables } = props;
    // Both functions must verify the same tokens: one secret, one source.
    this.sessionSecret = new SessionSecret(this, "SessionSecret", { settings });
    this.secretsKey = new Key(this, "SecretsKey", {
      description: `Drover ${settings.stage}: seals workspace secrets (data keys per value)`,
      enableKeyRotation: true,
      // Deleting the key would make every stored secret unreadable: it outlives the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.api = new DroverFunction(this, "GraphqlFunction", {
      name: "api",
      settings,
      description: "Drover GraphQL API (Prefect Cloud 1.0 compatible)",
      // More memory is more CPU: it shortens the cold start of the largest bundle.
      memorySize: 1024,
      timeout: Duration.seconds(29),
      environment: {
        DROVER_MAIN_TABLE: tables.main.tableName,
        DROVER_KV_TABLE: tables.kv.tableName,
        DROVER_LOGS_TABLE: tables.logs.tableName,
        DROVER_INGEST_QUEUE_URL: props.ingestQueue.queueUrl,
        DROVER_EVENT_BUS_NAME: props.eventBus.eventBusName,
        ...this.sessionSecret.environment,
        DROVER_SECRETS_KMS_KEY_ID: this.secretsKey.keyArn,
      },
    });
    this.secretsKey.grant(this.api.fn, "kms:GenerateDataKey", "kms:Decrypt");
    grantTable(this.api.fn, tables.tables.main, "readWrite");
    // GraphQL's key-value fields delegate to the KV code, and run logs are read back by GraphQL.
    grantTable(this.api.fn, tables.tables.kv, "readWrite");
    grantTable(this.api.fn, tables.tables.logs, "read");
    props.ingestQueue.grantSendMessages(this.api.fn);
    props.eventBus.grantPutEventsTo(this.api.fn);

    this.kv = new DroverFunction(this, "KvFunction", {
      name: "kv",
      settings,
      description: "Drover key-value REST API",
      memorySize: 512,
      timeout: Duration.seconds(10),
      environment: {
        DROVER_KV_TABLE: tables.kv.tableName,
        // REST callers authenticate with the API keys of the main table (core/src/auth/authenticator.ts).
        DROVER_MAIN_TABLE: tables.main.tableName,
        ...this.sessionSecret.environment,
      },
    });
    grantTable(this.kv.fn, tables.tables.kv, "readWrite");
    // Of the main table, only the API-key items and their id-index entries (LeadingKeys-fenced).
    grantApiKeyLookup(this.kv.fn, tables.tables.main);

    this.httpApi = new HttpApi(this, "HttpApi", {
      description: `Drover ${settings.stage} API`,
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: props.corsOrigins,
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT, CorsHttpMethod.DELETE],
        allowHeaders: CORS_HEADERS,
        maxAge: Duration.hours(1),
      },
    });

    const accessLogs = new LogGroup(this, "AccessLogs", {
      retention: settings.logRetention,
      removalPolicy: settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, "DefaultStage", {
      httpApi: this.httpApi,
      stageName: "$default",
      autoDeploy: true,
      throttle: settings.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });

    this.httpApi.addRoutes({
      path: "/graphql",
      methods: [HttpMethod.POST, HttpMethod.GET],
      integration: new HttpLambdaIntegration("GraphqlIntegration", this.api.fn),
    });
    const kvIntegration = new HttpLambdaIntegration("KvIntegration", this.kv.fn);
    this.httpApi.addRoutes({
      path: "/kv/{key+}",
      methods: [HttpMethod.GET, HttpMethod.PUT, HttpMethod.DELETE],
      integration: kvIntegration,
    });
    // The listing, `GET /kv/?prefix=&limit=&offset=`. A greedy variable never matches an empty
    // segment and a route path cannot end in "/", so the route is `GET /kv`: API Gateway sends both
    // `/kv` and `/kv/` to it (the handler lists for either path).
    this.httpApi.addRoutes({
      path: "/kv",
      methods: [HttpMethod.GET],
      integration: kvIntegration,
    });
    Validations.of(this.httpApi).acknowledge({
      id: "AwsSolutions-APIG4",
      reason:
        "Callers authenticate with the Prefect Cloud 1.0 protocol's bearer API key, which the functions verify against the hashed keys in DynamoDB (and some GraphQL operations are public by design, as in Prefect Cloud); an API Gateway authorizer would repeat that lookup on every request without being able to express the per-operation rules.",
    });
  }

  /** The API's base URL (no trailing slash); GraphQL is at `${url}/graphql`. */
  get url(): string {
    return this.httpApi.apiEndpoint;
  }
}
