import { Command, InvalidArgumentError } from "commander";
import { ApiKey, asTenant, DroverError, Workspace } from "#core/index.js";
import { DEFAULT_SLUG } from "./bootstrap.js";
import { formatDeadLetter, listDeadLetters, redriveDeadLetters, withDeadLetterQueues } from "./dlq.js";
import { StartupError } from "./dynamodb-local.js";
import { startLocalRuntime } from "./runtime.js";
import { withStorage } from "./storage.js";

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port number (0-65535).`);
  }
  return port;
}

const defaultPort = process.env.DROVER_PORT ?? "4200";
const defaultDataDir = process.env.DROVER_DATA_DIR ?? ".data";

const program = new Command()
  .name("drover")
  .description("Drover: a serverless control plane for workflow orchestration (Prefect Cloud 1.0 compatible)")
  .showHelpAfterError();

program
  .command("start")
  .description(
    "run the whole control plane on this machine (DynamoDB Local, SQS emulator, API, scheduler, ingestion)",
  )
  .option("--host <host>", "address to listen on", process.env.DROVER_HOST ?? "127.0.0.1")
  .option("--port <port>", "API port (env DROVER_PORT)", defaultPort)
  .option("--data-dir <dir>", "where local data persists (env DROVER_DATA_DIR)", defaultDataDir)
  .option("--in-memory", "keep all data in memory (nothing persists)")
  .action(async (options: { host: string; port: string; dataDir: string; inMemory?: boolean }) => {
    const port = parsePort(options.port);
    const runtime = await startLocalRuntime({
      host: options.host,
      port,
      dataDir: options.inMemory ? undefined : options.dataDir,
      bootstrapKey: process.env.DROVER_BOOTSTRAP_KEY,
      log: (message) => console.error(`drover: ${message}`),
    });
    const lines = [
      "",
      "Drover is running.",
      `  GraphQL API   ${runtime.graphqlUrl}   (GraphiQL: open it in a browser)`,
      `  Dashboard     ${runtime.url}/`,
      `  DynamoDB      ${runtime.dynamoEndpoint}   (DynamoDB Local)`,
      `  SQS           ${runtime.sqsEndpoint}   (fauxqs)`,
      `  Data          ${options.inMemory ? "in memory (nothing persists)" : options.dataDir}`,
      `  Workspace     ${runtime.bootstrap.workspace.name} (slug ${runtime.bootstrap.workspace.slug}, id ${runtime.bootstrap.workspace.id})`,
    ];
    if (runtime.bootstrap.secret) {
      lines.push(
        "",
        "  API key (shown once; store it now):",
        `    ${runtime.bootstrap.secret}`,
        "",
        "  Try it:",
        `    curl -s ${runtime.graphqlUrl} -H 'Authorization: Bearer ${runtime.bootstrap.secret}' \\`,
        `      -H 'Content-Type: application/json' -d '{"query":"{ auth_info { tenant_id } }"}'`,
      );
    }
    lines.push("", "Press Ctrl-C to stop.");
    console.log(lines.join("\n"));

    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`\nReceived ${signal}, stopping...`);
      await runtime.stop();
      console.log("Stopped.");
      process.exit(0);
    };
    process.on("SIGINT", () => void shutdown("SIGINT"));
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
  });

type StorageOptions = { dataDir: string; aws?: boolean };
/** `--data-dir` and `--aws`, saying what `--aws` acts on instead of the local data. */
function localOrAwsOptions(command: Command, aws: string): Command {
  return command
    .option("--data-dir <dir>", "local data folder (env DROVER_DATA_DIR)", defaultDataDir)
    .option("--aws", `use ${aws} instead of local data`);
}
const storageOptions = (command: Command) =>
  localOrAwsOptions(command, "the tables named by DROVER_MAIN_TABLE in AWS (deployed stack)");

async function inWorkspace<T>(slug: string, fn: () => Promise<T>): Promise<T> {
  const workspace = await Workspace.fromSlug(slug);
  if (!workspace) throw new DroverError("NOT_FOUND", `No workspace with slug "${slug}".`);
  return asTenant(workspace.id, fn);
}

const workspace = program.command("workspace").description("manage workspaces (tenants)");
storageOptions(workspace.command("create <name>"))
  .description("create a workspace and print its first API key")
  .option("--slug <slug>", "URL-safe identifier (default: derived from the name)")
  .action(async (name: string, options: StorageOptions & { slug?: string }) => {
    await withStorage({ dataDir: options.dataDir, aws: options.aws ?? false }, async () => {
      const created = await Workspace.create({ name, slug: options.slug });
      const key = await asTenant(created.id, () => ApiKey.create({ name: "first key" }));
      console.log(`Created workspace ${created.name} (slug ${created.slug}, id ${created.id}).`);
      console.log(`API key (shown once; store it now):\n  ${key.secret}`);
    });
  });
storageOptions(workspace.command("list"))
  .description("list workspaces")
  .action(async (options: StorageOptions) => {
    await withStorage({ dataDir: options.dataDir, aws: options.aws ?? false }, async () => {
      for (const w of await Workspace.listAll()) console.log(`${w.slug}\t${w.id}\t${w.name}`);
    });
  });

const key = program.command("key").description("manage API keys of a workspace");
storageOptions(key.command("create"))
  .description("create an API key and print it once")
  .option("--workspace <slug>", "workspace slug", DEFAULT_SLUG)
  .requiredOption("--name <name>", "a name to recognise the key by")
  .option("--expires-at <iso>", "expiry time (ISO 8601)")
  .option("--role <role>", "admin, developer, runner or read_only (docs/roles.md)", "admin")
  .action(
    async (
      options: StorageOptions & { workspace: string; name: string; expiresAt?: string; role: string },
    ) => {
      await withStorage({ dataDir: options.dataDir, aws: options.aws ?? false }, async () => {
        const created = await inWorkspace(options.workspace, () =>
          ApiKey.create({ name: options.name, expires_at: options.expiresAt ?? null, role: options.role }),
        );
        console.log(
          `Created key ${created.id} (${created.name}, role ${created.role}). Secret (shown once):\n  ${created.secret}`,
        );
      });
    },
  );
storageOptions(key.command("list"))
  .description("list API keys (name and prefix, never the secret)")
  .option("--workspace <slug>", "workspace slug", DEFAULT_SLUG)
  .action(async (options: StorageOptions & { workspace: string }) => {
    await withStorage({ dataDir: options.dataDir, aws: options.aws ?? false }, async () => {
      for (const k of await inWorkspace(options.workspace, () => ApiKey.list())) {
        const status = k.revoked_at
          ? "revoked"
          : k.expires_at && Date.parse(k.expires_at) <= Date.now()
            ? "expired"
            : "active";
        console.log(
          `${k.id}\t${k.prefix}…\t${status}\t${k.role}\t${k.name}\tcreated ${k.created}${k.expires_at ? `\texpires ${k.expires_at}` : ""}`,
        );
      }
    });
  });
storageOptions(key.command("revoke <id>"))
  .description("revoke an API key (it stops working within seconds)")
  .option("--workspace <slug>", "workspace slug", DEFAULT_SLUG)
  .action(async (id: string, options: StorageOptions & { workspace: string }) => {
    await withStorage({ dataDir: options.dataDir, aws: options.aws ?? false }, async () => {
      const revoked = await inWorkspace(options.workspace, () => ApiKey.revoke(id));
      console.log(`Revoked key ${revoked.id} (${revoked.name}).`);
    });
  });

const dlq = program
  .command("dlq")
  .description("inspect and replay the ingestion dead-letter queue (messages the consumer could not store)");
const queueOptions = (command: Command) =>
  localOrAwsOptions(command, "the deployed stack's queues (DROVER_INGEST_QUEUE_URL, DROVER_INGEST_DLQ_URL)");
queueOptions(dlq.command("list"))
  .description("list parked messages: id, kind, tenant, receives, size, first error")
  .action(async (options: StorageOptions) => {
    await withDeadLetterQueues({ dataDir: options.dataDir, aws: options.aws ?? false }, async (queues) => {
      const letters = await listDeadLetters(queues);
      for (const letter of letters) console.log(formatDeadLetter(letter));
      console.log(`${letters.length} message${letters.length === 1 ? "" : "s"} in the DLQ.`);
    });
  });
queueOptions(dlq.command("redrive"))
  .description("move every parked message back to the ingestion queue (storing is idempotent)")
  .action(async (options: StorageOptions) => {
    await withDeadLetterQueues({ dataDir: options.dataDir, aws: options.aws ?? false }, async (queues) => {
      const moved = await redriveDeadLetters(queues);
      console.log(`Moved ${moved} message${moved === 1 ? "" : "s"} back to the ingestion queue.`);
    });
  });

try {
  await program.parseAsync();
} catch (error) {
  // Expected failures (Java missing, port taken, bad input) are one clear line; bugs keep their stack.
  const expected = error instanceof StartupError || error instanceof DroverError;
  console.error(
    `drover: ${expected ? (error as Error).message : error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  process.exit(1);
}
