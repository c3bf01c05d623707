import { type FauxqsServer, startFauxqs } from "fauxqs";

export type LocalQueues = {
  endpoint: string;
  ingestQueueUrl: string;
  ingestQueueArn: string;
  ingestDlqUrl: string;
  stop: () => Promise<void>;
};

/** Redelivery bound before a message is moved to the DLQ (the same setting as the AWS queue). */
export const MAX_RECEIVE_COUNT = 5;
export const VISIBILITY_TIMEOUT_SECONDS = 30;

/** Starts the fauxqs SQS emulator in-process on a loopback port with the ingestion queue and its DLQ. */
export async function startQueues(options: {
  port?: number;
  prefix: string;
  visibilityTimeoutSeconds?: number | undefined;
}): Promise<LocalQueues> {
  const server: FauxqsServer = await startFauxqs({
    port: options.port ?? 0,
    host: "localhost",
    logger: false,
  });
  const dlq = server.createQueue(`${options.prefix}-ingest-dlq`, {
    attributes: { MessageRetentionPeriod: String(14 * 24 * 3600) },
  });
  const queue = server.createQueue(`${options.prefix}-ingest`, {
    attributes: {
      VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_SECONDS),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlq.queueArn,
        maxReceiveCount: MAX_RECEIVE_COUNT,
      }),
    },
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    ingestQueueUrl: queue.queueUrl,
    ingestQueueArn: queue.queueArn,
    ingestDlqUrl: dlq.queueUrl,
    stop: () => server.stop(),
  };
}
