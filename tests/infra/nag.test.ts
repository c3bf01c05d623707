import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDroverApp } from "../../infra/lib/app.js";
import { API_BUNDLE_LIMIT_BYTES } from "../../infra/lib/bundling.js";
import { removeSynth, synthDrover } from "./synth.js";
import { logicalId, resources } from "./template.js";

function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id,
          reason,
        })),
      ),
  );
}

function findings(synth: ReturnType<typeof synthDrover>): string[] {
  return synth.nag
    .validateScope(synth.app)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`),
    );
}

describe("the synthesized app (bundled with esbuild, offline)", () => {
  let synth: ReturnType<typeof synthDrover>;
  beforeAll(() => {
    synth = synthDrover({ bundle: true });
  });
  afterAll(() => removeSynth(synth));

  test("cdk-nag's AwsSolutions pack reports no unacknowledged error or warning", () => {
    expect(findings(synth)).toEqual([]);
  });

  test("every acknowledged finding carries a written reason", () => {
    // aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules; ours are the nag ones.
    const acknowledged = acknowledgments(synth.app).filter(({ id }) => id.includes("AwsSolutions-"));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { id, path, reason } of acknowledged) {
      expect(reason.length, `${id} at ${path}`).toBeGreaterThan(40);
    }
  });

  test("each function's asset is a minified ES module with its source map, the API under its budget", () => {
    const functions = {
      api: synth.stack.api.api,
      kv: synth.stack.api.kv,
      scheduler: synth.stack.scheduler.function,
      logs: synth.stack.ingestion.consumer,
    };
    for (const [name, f] of Object.entries(functions)) {
      const properties = resources(synth.template, "AWS::Lambda::Function")[logicalId(f.fn)]?.Properties;
      const key = (properties?.Code as { S3Key?: string } | undefined)?.S3Key ?? "";
      const asset = join(synth.outdir, `asset.${key.replace(/\.zip$/, "")}`);
      expect(existsSync(join(asset, "index.mjs")), name).toBe(true);
      expect(existsSync(join(asset, "index.mjs.map")), name).toBe(true);
      if (name === "api")
        expect(statSync(join(asset, "index.mjs")).size).toBeLessThan(API_BUNDLE_LIMIT_BYTES);
    }
  });
});

describe("acknowledgments that name resources", () => {
  test("still match when the stack is bound to a concrete account and region", () => {
    // Constructing is enough: cdk-nag walks the construct tree, no synthesis needed.
    const { app, stack, nag } = createDroverApp({
      context: { account: "123456789012", region: "eu-central-1", "aws:cdk:bundling-stacks": [] },
      env: {},
    });
    expect(stack.account).toBe("123456789012");
    expect(nag.validateScope(app).violations).toEqual([]);
  });
});
