import { mkdirSync } from "node:fs";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";
import { HOOKS_MAX_RECEIVES } from "#core/hook/dispatch.js";

export type LocalQueues = {
  endpoint: string;
  ingestQueueUrl: string;
  ingestQueueArn: string;
  ingestDlqUrl: string;
  /** The hooks queue (the bus's hook rule feeds it) and its DLQ (core/src/hook/dispatch.ts). */
  hooksQueueUrl: string;
  hooksQueueArn: string;
  hooksDlqUrl: string;
  /** Where the queues persist (`<dataDir>/fauxqs.db`), or undefined when they live in memory. */
  dataDir: string | undefined;
  stop: () => Promise<void>;
};

/** Redelivery bound before a message is moved to the DLQ (the same setting as the AWS queue). */
export const MAX_RECEIVE_COUNT = 5;
export const VISIBILITY_TIMEOUT_SECONDS = 30;
/** A hooks message stays hidden this long while its hooks are tried (4 attempts each, with backoff). */
export const HOOKS_VISIBILITY_TIMEOUT_SECONDS = 60;

/** The parts of fauxqs's (2.4.1) persistence that `startFauxqs` wires, which its package does not export. */
type Persistence = {
  load(sqs: unknown, sns: unknown, s3: unknown): void;
  close(): void;
  db: { exec(sql: string): void };
};
type Stores = {
  sqsStore: { persistence?: unknown; allQueues(): Iterable<{ persistence?: unknown }> };
  snsStore: { persistence?: unknown };
  s3Store: { persistence?: unknown };
};

/**
 * fauxqs stores (SQS, SNS, S3) persisted to SQLite under `dataDir`, wired exactly as fauxqs's own
 * `startFauxqs({ dataDir })` does; we build them ourselves because `startFauxqs` listens on every
 * interface and Drover listens on loopback only. Every SendMessage, receive and delete is written
 * through to SQLite (WAL) before fauxqs answers, so an acknowledged message survives a SIGKILL.
 *
 * Messages that were in flight when the previous process died are made visible at once: the data
 * folder has one owner (the runtime refuses to start next to a live one), so no consumer can still
 * be working on them, and waiting out their visibility timeout would only delay their lines.
 */
async function persistentStores(dataDir: string): Promise<{ stores: Stores; persistence: Persistence }> {
  const base = import.meta.resolve("fauxqs");
  const load = async <T>(path: string, name: string) =>
    ((await import(new URL(path, base).href)) as Record<string, T>)[name] as T;
  const PersistenceManager = await load<new (dir: string) => Persistence>(
    "./persistence.js",
    "PersistenceManager",
  );
  const SqsStore = await load<new () => Stores["sqsStore"]>("./sqs/sqsStore.js", "SqsStore");
  const SnsStore = await load<new () => Stores["snsStore"]>("./sns/snsStore.js", "SnsStore");
  const S3Store = await load<new () => Stores["s3Store"]>("./s3/s3Store.js", "S3Store");
  mkdirSync(dataDir, { recursive: true });
  const persistence = new PersistenceManager(dataDir);
  // WAL with synchronous=NORMAL: each write is in the WAL (the OS's page cache) before fauxqs
  // answers, which survives any crash of this process (SIGKILL, OOM); only a crash of the machine
  // itself can lose the last commits. FULL would fsync every SendMessage, receive and delete.
  persistence.db.exec("PRAGMA synchronous = NORMAL");
  persistence.db.exec(
    "UPDATE sqs_messages SET visibility_deadline = 1 WHERE receipt_handle IS NOT NULL AND visibility_deadline IS NOT NULL",
  );
  const stores: Stores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  // Load first, then attach persistence (as startFauxqs does: loading must not write back).
  persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
  stores.sqsStore.persistence = persistence;
  stores.snsStore.persistence = persistence;
  stores.s3Store.persistence = persistence;
  for (const queue of stores.sqsStore.allQueues()) queue.persistence = persistence;
  return { stores, persistence };
}

/**
 * Starts the fauxqs SQS emulator in-process, listening on loopback only, and creates (or, on a
 * persisted data folder, finds) the ingestion queue and its DLQ through the SQS API. With
 * `dataDir`, queues and messages persist in SQLite there; without it they live in memory.
 */
export async function startQueues(options: {
  port?: number;
  prefix: string;
  dataDir?: string | undefined;
  visibilityTimeoutSeconds?: number | undefined;
}): Promise<LocalQueues> {
  const persisted = options.dataDir ? await persistentStores(options.dataDir) : undefined;
  const app = buildApp({
    logger: false,
    host: "localhost",
    ...(persisted ? { stores: persisted.stores as never } : {}),
  });
  if (persisted) app.addHook("preClose", () => persisted.persistence.close());
  let endpoint: string;
  try {
    const address = await app.listen({ port: options.port ?? 0, host: "127.0.0.1" });
    endpoint = address.replace("localhost", "127.0.0.1");
  } catch (error) {
    persisted?.persistence.close();
    throw error;
  }
  const sqs = new SQSClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  try {
    // A persisted queue is kept (with its messages) and given the attributes of this start.
    const create = async (name: string, attributes: Record<string, string>) => {
      const existing = await sqs
        .send(new GetQueueUrlCommand({ QueueName: name }))
        .then((r) => r.QueueUrl)
        .catch(() => undefined);
      if (existing)
        await sqs.send(new SetQueueAttributesCommand({ QueueUrl: existing, Attributes: attributes }));
      const QueueUrl =
        existing ??
        (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl;
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
      );
      return { url: QueueUrl ?? "", arn: Attributes?.QueueArn ?? "" };
    };
    const dlq = await create(`${options.prefix}-ingest-dlq`, {
      MessageRetentionPeriod: String(14 * 24 * 3600),
    });
    const queue = await create(`${options.prefix}-ingest`, {
      VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_SECONDS),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: MAX_RECEIVE_COUNT }),
    });
    const hooksDlq = await create(`${options.prefix}-hooks-dlq`, {
      MessageRetentionPeriod: String(14 * 24 * 3600),
    });
    const hooks = await create(`${options.prefix}-hooks`, {
      VisibilityTimeout: String(HOOKS_VISIBILITY_TIMEOUT_SECONDS),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: hooksDlq.arn,
        maxReceiveCount: HOOKS_MAX_RECEIVES,
      }),
    });
    return {
      endpoint,
      ingestQueueUrl: queue.url,
      ingestQueueArn: queue.arn,
      ingestDlqUrl: dlq.url,
      hooksQueueUrl: hooks.url,
      hooksQueueArn: hooks.arn,
      hooksDlqUrl: hooksDlq.url,
      dataDir: options.dataDir,
      stop: () => app.close(),
    };
  } catch (error) {
    await app.close();
    throw error;
  } finally {
    sqs.destroy();
  }
}
