import { existsSync } from "node:fs";
import { describe, expect, test } from "vitest";
import {
  BUNDLE,
  esbuildOptions,
  FUNCTION_NAMES,
  FUNCTIONS,
  nodejsBundling,
} from "../../infra/lib/bundling.js";
import { repoPath } from "../../infra/lib/paths.js";

describe("bundling", () => {
  test("the stack's NodejsFunction options and the benchmark's esbuild options say the same thing", () => {
    const cdk = nodejsBundling();
    const esbuild = esbuildOptions("api", "/tmp/out");
    expect({
      target: cdk.target,
      format: cdk.format,
      minify: cdk.minify,
      sourcemap: cdk.sourceMap,
      sourcesContent: cdk.sourcesContent,
      mainFields: cdk.mainFields,
      external: cdk.externalModules,
      banner: cdk.banner,
    }).toEqual({
      target: esbuild.target,
      format: esbuild.format,
      minify: esbuild.minify,
      sourcemap: esbuild.sourcemap,
      sourcesContent: esbuild.sourcesContent,
      mainFields: esbuild.mainFields,
      external: esbuild.external,
      banner: esbuild.banner?.js,
    });
    expect(esbuild).toMatchObject({
      bundle: true,
      platform: "node",
      outfile: `/tmp/out/${BUNDLE.outputFile}`,
    });
  });

  test("bundling never falls back to Docker and bundles the AWS SDK instead of relying on the runtime's", () => {
    expect(nodejsBundling()).toMatchObject({ forceDockerBundling: false, externalModules: [] });
  });

  test("every function is bundled from its handler entry point", () => {
    expect(FUNCTION_NAMES.sort()).toEqual(["api", "events", "hooks", "kv", "logs", "scheduler"]);
    for (const name of FUNCTION_NAMES) {
      expect(esbuildOptions(name, "/tmp/out").entryPoints).toEqual([repoPath(FUNCTIONS[name].entry)]);
      expect(FUNCTIONS[name].entry).toMatch(/^functions\/[a-z]+\/src\/handler\.ts$/);
      expect(existsSync(repoPath(FUNCTIONS[name].entry)), name).toBe(true);
    }
    expect(FUNCTIONS.events.entry).toBe("functions/events/src/handler.ts");
    expect(FUNCTIONS.hooks.entry).toBe("functions/hooks/src/handler.ts");
  });
});
