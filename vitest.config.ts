import { defineConfig } from "vitest/config";

/**
 * Test tiers, each saying what it needs:
 * - unit: pure code, no emulator;
 * - integration: core and handlers against DynamoDB Local and fauxqs (started by globalSetup);
 * - contract: the real Prefect client's requests replayed over HTTP against the local runtime;
 * - faults: real processes killed (SIGKILL, SIGTERM) and storage taken away mid-work, counting what survived;
 * - browser: the dashboard (built once by globalSetup) in Debian's Chromium against the local runtime;
 * - infra: the CDK app synthesized offline with assertions and cdk-nag.
 */
export default defineConfig({
  test: {
    // Handlers log ticks and batches at INFO for operators; tests keep warnings and errors only.
    env: { NODE_NO_WARNINGS: "1", AWS_REGION: "us-east-1", POWERTOOLS_LOG_LEVEL: "WARN" },
    projects: [
      { test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
      {
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          globalSetup: ["tests/helpers/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "contract",
          include: ["tests/contract/**/*.test.ts"],
          globalSetup: ["tests/helpers/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "faults",
          include: ["tests/faults/**/*.test.ts"],
          globalSetup: ["tests/helpers/global-setup.ts"],
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "browser",
          include: ["tests/browser/**/*.test.ts"],
          globalSetup: ["tests/helpers/global-setup.ts", "tests/browser/build-dashboard.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "infra",
          include: ["tests/infra/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
