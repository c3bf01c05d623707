import { RemovalPolicy, Validations } from "aws-cdk-lib";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { StageSettings } from "./settings.js";

/** The environment variable core's config reads the session-signing secret from. */
export const SESSION_SECRET_ENV = "DROVER_SESSION_SECRET";
/** Letters and digits generated; core's config requires at least 32 characters. */
export const SESSION_SECRET_LENGTH = 64;

/**
 * The secret that signs and verifies the dashboard's session tokens (HS256), shared by every
 * function that accepts them (the GraphQL API issues and checks them, the KV REST face checks
 * them). Secrets Manager generates it on the first deploy, so its value never appears in the
 * template, the cloud assembly or the repository; CloudFormation resolves it into the functions'
 * environment at deploy time (a `{{resolve:secretsmanager:...}}` dynamic reference), so no
 * function role needs `secretsmanager:GetSecretValue` and no function calls Secrets Manager.
 */
export class SessionSecret extends Construct {
  readonly secret: Secret;

  constructor(scope: Construct, id: string, props: { settings: StageSettings }) {
    super(scope, id);
    // A new generation is a new resource: CloudFormation creates a freshly generated secret, points
    // the functions at it and deletes the old one.
    const generation = props.settings.sessionSecretGeneration;
    this.secret = new Secret(this, generation === 1 ? "Secret" : `Secret${generation}`, {
      description: `Drover ${props.settings.stage}: signs dashboard session tokens (${SESSION_SECRET_ENV})`,
      generateSecretString: {
        passwordLength: SESSION_SECRET_LENGTH,
        excludePunctuation: true,
        includeSpace: false,
      },
      // Only sessions depend on it (they last at most 12 hours); it holds no data worth keeping.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.secret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "The value reaches the functions as a deploy-time dynamic reference in their environment, so a rotation in Secrets Manager would not reach running functions until the next deploy; it is rotated by deploying with a higher sessionSecretGeneration (docs/deploy.md), which replaces the secret and the functions' reference in one deploy and ends every session at once, as a signing-key rotation should.",
    });
  }

  /** The function environment that carries the secret (resolved by CloudFormation at deploy). */
  get environment(): Record<string, string> {
    return { [SESSION_SECRET_ENV]: this.secret.secretValue.unsafeUnwrap() };
  }
}
