import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Template } from "aws-cdk-lib/assertions";
import { createDroverApp } from "../../infra/lib/app.js";

export type SynthOptions = {
  context?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Run esbuild for every function (slow); off, the assets are staged without bundling. */
  bundle?: boolean;
};

/**
 * Builds the Drover app the way `npm run synth` does, offline: no credentials, no lookups, the
 * environment isolated from the machine's AWS settings. Synthesize once per test file.
 */
export function synthDrover(options: SynthOptions = {}) {
  const outdir = mkdtempSync(join(tmpdir(), "drover-cdk-"));
  const context = {
    ...(options.bundle ? {} : { "aws:cdk:bundling-stacks": [] }),
    ...options.context,
  };
  const created = createDroverApp({ context, env: options.env ?? {}, outdir });
  const template = Template.fromStack(created.stack);
  return { ...created, template, outdir };
}

/** Removes a synthesis's cloud assembly (bundles included) from the temporary directory. */
export function removeSynth(synth: { outdir: string } | undefined): void {
  if (synth) rmSync(synth.outdir, { recursive: true, force: true });
}
