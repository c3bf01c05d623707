import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDroverApp } from "../../infra/lib/app.js";
import { API_BUNDLE_LIMIT_BYTES, FUNCTION_NAMES, NODE_OPTIONS } from "../../infra/lib/bundling.js";
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

  const functions = () => ({
    api: synth.stack.api.api,
    kv: synth.stack.api.kv,
    scheduler: synth.stack.scheduler.function,
    logs: synth.stack.ingestion.consumer,
    events: synth.stack.events.publisher,
    hooks: synth.stack.events.hooks,
  });
  const assetOf = (f: { fn: IConstruct }) => {
    const properties = resources(synth.template, "AWS::Lambda::Function")[logicalId(f.fn)]?.Properties;
    const key = (properties?.Code as { S3Key?: string } | undefined)?.S3Key ?? "";
    return join(synth.outdir, `asset.${key.replace(/\.zip$/, "")}`);
  };

  test("each function's asset is a minified ES module with its source map, the API under its budget", () => {
    expect(Object.keys(functions()).sort()).toEqual([...FUNCTION_NAMES].sort());
    for (const [name, f] of Object.entries(functions())) {
      const asset = assetOf(f);
      expect(existsSync(join(asset, "index.mjs")), name).toBe(true);
      expect(existsSync(join(asset, "index.mjs.map")), name).toBe(true);
      if (name === "api")
        expect(statSync(join(asset, "index.mjs")).size).toBeLessThan(API_BUNDLE_LIMIT_BYTES);
    }
  });

  test("the events and hooks bundles load in a fresh Node process and export their handler", () => {
    // What Lambda does first: import index.mjs and find `handler` (nothing is called, no network).
    const probe =
      "const m = await import(process.env.DROVER_TEST_BUNDLE); if (typeof m.handler !== 'function') { console.error('no handler export'); process.exit(3); }";
    const { events, hooks } = functions();
    for (const [name, f] of Object.entries({ events, hooks })) {
      const bundle = pathToFileURL(join(assetOf(f), "index.mjs")).href;
      expect(
        () =>
          execFileSync(process.execPath, ["--input-type=module", "-e", probe], {
            env: {
              PATH: process.env.PATH,
              NODE_OPTIONS,
              AWS_REGION: "us-east-1",
              AWS_EC2_METADATA_DISABLED: "true",
              DROVER_STAGE: "test",
              DROVER_TEST_BUNDLE: bundle,
            },
            stdio: ["ignore", "pipe", "pipe"],
            timeout: 30_000,
          }),
        name,
      ).not.toThrow();
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
