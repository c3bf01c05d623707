import { type Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from "aws-cdk-lib/aws-lambda";
import { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { FUNCTIONS, type FunctionName, NODE_OPTIONS, nodejsBundling } from "./bundling.js";
import { REPO_ROOT, repoPath } from "./paths.js";
import type { StageSettings } from "./settings.js";

export type DroverFunctionProps = {
  name: FunctionName;
  settings: StageSettings;
  description: string;
  environment: Record<string, string>;
  memorySize: number;
  timeout: Duration;
  reservedConcurrentExecutions?: number;
};

/**
 * One Drover Lambda: Node.js 22 on arm64, bundled from its entry point with the shared esbuild
 * settings, JSON logs (Powertools logger) into its own log group with a retention, and a role that
 * can write that log group and nothing else until the stack grants it more.
 */
export class DroverFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: DroverFunctionProps) {
    super(scope, id);
    const { settings } = props;
    const spec = FUNCTIONS[props.name];

    this.logGroup = new LogGroup(this, "Logs", {
      retention: settings.logRetention,
      removalPolicy: settings.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // Our own role instead of AWSLambdaBasicExecutionRole: that managed policy may create and
    // write any log group in the account; this one writes the function's log group only.
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Drover ${settings.stage} ${props.name} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new NodejsFunction(this, "Function", {
      entry: repoPath(spec.entry),
      handler: "handler",
      projectRoot: REPO_ROOT,
      depsLockFilePath: repoPath("package-lock.json"),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      bundling: nodejsBundling(),
      environment: {
        DROVER_STAGE: settings.stage,
        POWERTOOLS_SERVICE_NAME: spec.service,
        POWERTOOLS_LOG_LEVEL: "INFO",
        POWERTOOLS_LOGGER_LOG_EVENT: "false",
        NODE_OPTIONS,
        ...props.environment,
      },
      ...(props.reservedConcurrentExecutions !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions }
        : {}),
    });
    // The role must exist with its log permissions before the function is created.
    this.fn.node.addDependency(this.role);
    Validations.of(this).acknowledge({
      id: "AwsSolutions-L1",
      reason:
        "Node.js 22 is the runtime Drover is built and tested for (the functions are bundled with target node22); moving to a newer runtime is a deliberate, tested change rather than an automatic one.",
    });
  }
}
