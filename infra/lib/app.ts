import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { resolveSettings, type StageSettings } from "./settings.js";
import { DroverStack, stackName } from "./stack.js";

export type DroverAppOptions = {
  /** CDK context (what `-c key=value` sets on the command line). */
  context?: Record<string, unknown>;
  /** Environment read for DROVER_STAGE and the default region; the process environment by default. */
  env?: NodeJS.ProcessEnv;
  outdir?: string;
};

/**
 * The Drover CDK app: one stack for the selected stage, checked by cdk-nag's AwsSolutions pack on
 * synth (a finding that is not acknowledged with a written reason fails the synth).
 */
export function createDroverApp(options: DroverAppOptions = {}): {
  app: App;
  stack: DroverStack;
  settings: StageSettings;
  nag: AwsSolutionsChecks;
} {
  const app = new App({
    ...(options.context ? { context: options.context } : {}),
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
  const settings = resolveSettings(app.node, options.env ?? process.env);
  const stack = new DroverStack(app, stackName(settings), settings);
  const nag = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(nag);
  return { app, stack, settings, nag };
}
