import { existsSync } from "node:fs";
import { DefaultStackSynthesizer, Duration, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from "aws-cdk-lib/aws-cloudfront";
import { S3BucketOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { LogGroup } from "aws-cdk-lib/aws-logs";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { BucketDeployment, Source } from "aws-cdk-lib/aws-s3-deployment";
import { Construct } from "constructs";
import { repoPath } from "./paths.js";
import type { StageSettings } from "./settings.js";

export type DashboardSiteProps = {
  settings: StageSettings;
  /** Published as `/config.json` so the dashboard finds its API without a rebuild per stage. */
  runtimeConfig: Record<string, string>;
};

/** The published dashboard: web/dist when it has been built, else a placeholder page. */
export function dashboardSource(settings: StageSettings): { path: string; placeholder: boolean } {
  const built = settings.webDist ?? repoPath("web", "dist");
  if (existsSync(`${built}/index.html`)) return { path: built, placeholder: false };
  return { path: repoPath("infra", "assets", "dashboard-placeholder"), placeholder: true };
}

/**
 * The dashboard: a private bucket served only through CloudFront (origin access control), HTTPS
 * only, with access logs of both in a separate log bucket.
 */
export class DashboardSite extends Construct {
  readonly bucket: Bucket;
  readonly logBucket: Bucket;
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: { settings: StageSettings }) {
    super(scope, id);
    const { settings } = props;
    const removal = settings.production
      ? { removalPolicy: RemovalPolicy.RETAIN }
      : { removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true };

    this.logBucket = new Bucket(this, "AccessLogs", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront standard logging writes with ACLs.
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(settings.production ? 365 : 30) }],
      ...removal,
    });
    Validations.of(this.logBucket).acknowledge({
      id: "AwsSolutions-S1",
      reason:
        "This is the access-log bucket of the dashboard bucket and CloudFront; logging it into itself would loop.",
    });

    this.bucket = new Bucket(this, "Assets", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: "s3/",
      ...removal,
    });

    this.distribution = new Distribution(this, "Cdn", {
      comment: `Drover ${settings.stage} dashboard`,
      defaultRootObject: "index.html",
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: ResponseHeadersPolicy.SECURITY_HEADERS,
        compress: true,
      },
      // The dashboard routes in the browser: unknown paths get the app shell.
      errorResponses: [403, 404].map((httpStatus) => ({
        httpStatus,
        responseHttpStatus: 200,
        responsePagePath: "/index.html",
        ttl: Duration.seconds(10),
      })),
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: "cloudfront/",
    });
    acknowledgeDistribution(this.distribution);
  }

  /** Uploads the dashboard and its runtime config, then invalidates the CDN. */
  publish(props: DashboardSiteProps): BucketDeployment {
    const { settings } = props;
    const source = dashboardSource(settings);
    // A role of our own: the default one carries AWSLambdaBasicExecutionRole (any log group).
    const logGroup = new LogGroup(this, "PublishLogs", {
      retention: settings.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new Role(this, "PublishRole", { assumedBy: new ServicePrincipal("lambda.amazonaws.com") });
    logGroup.grantWrite(role);
    const deployment = new BucketDeployment(this, "Publish", {
      sources: [Source.asset(source.path), Source.jsonData("config.json", props.runtimeConfig)],
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ["/*"],
      role,
      logGroup,
      memoryLimit: 512,
    });
    acknowledgePublisher(role, this.bucket);
    return deployment;
  }
}

/**
 * The publisher is CDK's BucketDeployment: a short-lived custom resource that runs during deploys
 * only, with grants CDK writes (read of the bootstrap asset bucket, write of the dashboard bucket,
 * invalidation of the distribution). Each finding is acknowledged by its exact id.
 */
function acknowledgePublisher(role: Role, bucket: Bucket): void {
  const stack = Stack.of(role);
  const bucketId: string = stack.resolve(stack.getLogicalId(bucket.node.defaultChild as CfnBucket));
  const account = Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account;
  const region = Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region;
  const synthesizer = stack.synthesizer;
  const qualifier =
    (synthesizer instanceof DefaultStackSynthesizer ? synthesizer.bootstrapQualifier : undefined) ??
    DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  const assetObjects = `arn:<AWS::Partition>:s3:::cdk-${qualifier}-assets-${account}-${region}/*`;
  const deploymentOnly =
    "granted by CDK's BucketDeployment, which runs only while a deploy publishes the dashboard";
  Validations.of(role).acknowledge(
    ...["s3:GetObject*", "s3:GetBucket*", "s3:List*"].map((action) => ({
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: `Read of the dashboard's source asset and of the dashboard bucket, ${deploymentOnly}.`,
    })),
    ...["s3:DeleteObject*", "s3:Abort*"].map((action) => ({
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: `Replaces the dashboard bucket's objects (stale files are pruned), ${deploymentOnly}.`,
    })),
    {
      id: `AwsSolutions-IAM5[Resource::${assetObjects}]`,
      reason: `The objects of CDK's bootstrap asset bucket; the asset key is only known at deploy time. ${deploymentOnly}.`,
    },
    {
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      reason: `Every object of the dashboard bucket (the whole site is replaced), ${deploymentOnly}.`,
    },
    {
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: `cloudfront:CreateInvalidation/GetInvalidation of the dashboard distribution after upload, ${deploymentOnly}.`,
    },
  );
  const handler = stack.node.children.find((child) =>
    child.node.id.startsWith("Custom::CDKBucketDeployment"),
  );
  if (handler) {
    Validations.of(handler).acknowledge({
      id: "AwsSolutions-L1",
      reason: "The BucketDeployment handler's runtime is chosen and updated by aws-cdk-lib, not by this app.",
    });
  }
}

function acknowledgeDistribution(distribution: Distribution): void {
  Validations.of(distribution).acknowledge(
    {
      id: "AwsSolutions-CFR1",
      reason:
        "Drover is used by teams anywhere; restricting countries is a per-deployment choice, not a default.",
    },
    {
      id: "AwsSolutions-CFR2",
      reason:
        "The distribution serves static files only (the API is not behind it); a WAF web ACL costs a fixed monthly fee and can be attached per deployment.",
    },
    {
      id: "AwsSolutions-CFR4",
      reason:
        "Without a custom domain the distribution uses the default *.cloudfront.net certificate, for which CloudFront does not allow choosing the minimum TLS version.",
    },
  );
}
