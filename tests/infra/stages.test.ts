import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDroverApp } from "../../infra/lib/app.js";
import { dashboardSource } from "../../infra/lib/dashboard-site.js";
import { repoPath } from "../../infra/lib/paths.js";
import { resolveSettings } from "../../infra/lib/settings.js";
import { removeSynth, synthDrover } from "./synth.js";
import { logicalId, resources } from "./template.js";

const context = (values: Record<string, unknown>) => ({ tryGetContext: (key: string) => values[key] });

describe("stage selection", () => {
  test("the stage comes from context before DROVER_STAGE, and defaults to dev", () => {
    expect(resolveSettings(context({ stage: "qa" }), { DROVER_STAGE: "staging" }).stage).toBe("qa");
    expect(resolveSettings(context({}), { DROVER_STAGE: "staging" }).stage).toBe("staging");
    expect(resolveSettings(context({}), {}).stage).toBe("dev");
  });

  test("prod and production are production stages; others only when asked", () => {
    expect(resolveSettings(context({ stage: "prod" }), {}).production).toBe(true);
    expect(resolveSettings(context({ stage: "production" }), {}).production).toBe(true);
    expect(resolveSettings(context({ stage: "eu" }), {}).production).toBe(false);
    expect(resolveSettings(context({ stage: "eu", production: "true" }), {}).production).toBe(true);
  });

  test("a stage name that cannot prefix AWS resource names is rejected", () => {
    expect(() => resolveSettings(context({ stage: "My_Stage" }), {})).toThrow(/lower-case/);
  });

  test("the region comes from context, then the CLI's default, then us-east-1; no account means no lookup", () => {
    expect(
      resolveSettings(context({ region: "eu-west-1" }), { CDK_DEFAULT_REGION: "us-west-2" }).env.region,
    ).toBe("eu-west-1");
    expect(resolveSettings(context({}), { CDK_DEFAULT_REGION: "us-west-2" }).env.region).toBe("us-west-2");
    expect(resolveSettings(context({}), {}).env).toEqual({ account: undefined, region: "us-east-1" });
  });

  test("the logs consumers' concurrency stays within what the SQS event source accepts", () => {
    expect(() => resolveSettings(context({ ingestMaxConcurrency: "1" }), {})).toThrow(/at least 2/);
    expect(resolveSettings(context({ ingestMaxConcurrency: "5000" }), {}).ingestMaxConcurrency).toBe(1000);
  });

  test("extra CORS origins are a comma-separated list", () => {
    expect(
      resolveSettings(context({ corsOrigins: "http://localhost:5173, https://ops.example.com" }), {})
        .extraCorsOrigins,
    ).toEqual(["http://localhost:5173", "https://ops.example.com"]);
  });
});

describe("session secret rotation", () => {
  test("a higher sessionSecretGeneration replaces the secret (a new resource) that both functions use", () => {
    expect(resolveSettings(context({}), {}).sessionSecretGeneration).toBe(1);
    expect(() => resolveSettings(context({ sessionSecretGeneration: "0" }), {})).toThrow(/at least 1/);
    const secretId = (generation?: string) => {
      const { stack } = createDroverApp({
        context: {
          "aws:cdk:bundling-stacks": [],
          ...(generation ? { sessionSecretGeneration: generation } : {}),
        },
        env: {},
      });
      return logicalId(stack.api.sessionSecret.secret);
    };
    const first = secretId();
    expect(secretId("1")).toBe(first);
    expect(secretId("2")).not.toBe(first);
  });
});

describe("dashboard source", () => {
  test("a built dashboard is published, and a placeholder page from infra/ when there is none", () => {
    const built = mkdtempSync(join(tmpdir(), "drover-web-"));
    try {
      writeFileSync(join(built, "index.html"), "<!doctype html>");
      expect(dashboardSource(resolveSettings(context({ webDist: built }), {}))).toEqual({
        path: built,
        placeholder: false,
      });
      expect(dashboardSource(resolveSettings(context({ webDist: join(built, "missing") }), {}))).toEqual({
        path: repoPath("infra", "assets", "dashboard-placeholder"),
        placeholder: true,
      });
    } finally {
      rmSync(built, { recursive: true, force: true });
    }
  });
});

describe("a production stage", () => {
  let synth: ReturnType<typeof synthDrover>;
  beforeAll(() => {
    synth = synthDrover({ env: { DROVER_STAGE: "prod" } });
  });
  afterAll(() => removeSynth(synth));

  test("is named after its stage and protected from deletion", () => {
    expect(synth.stack.stackName).toBe("drover-prod");
    expect(synth.stack.terminationProtection).toBe(true);
    expect(synth.settings.logRetention).toBe(RetentionDays.THREE_MONTHS);
  });

  test("retains its tables, with deletion protection on", () => {
    for (const table of Object.values(resources(synth.template, "AWS::DynamoDB::Table"))) {
      expect(table).toMatchObject({ DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
      expect(table.Properties?.DeletionProtectionEnabled).toBe(true);
    }
  });

  test("retains its buckets, queues and function logs and does not empty buckets on delete", () => {
    for (const type of ["AWS::S3::Bucket", "AWS::SQS::Queue"]) {
      for (const resource of Object.values(resources(synth.template, type))) {
        expect(resource).toMatchObject({ DeletionPolicy: "Retain" });
      }
    }
    synth.template.resourceCountIs("Custom::S3AutoDeleteObjects", 0);
  });
});
