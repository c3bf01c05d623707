import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";

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

/**
 * Starts the fauxqs SQS emulator in-process, listening on loopback only (its `startFauxqs`
 * listens on every interface), and creates the ingestion queue and its DLQ through the SQS API.
 */
export async function startQueues(options: {
  port?: number;
  prefix: string;
  visibilityTimeoutSeconds?: number | undefined;
}): Promise<LocalQueues> {
  const app = buildApp({ logger: false, host: "localhost" });
  const address = await app.listen({ port: options.port ?? 0, host: "127.0.0.1" });
  const endpoint = address.replace("localhost", "127.0.0.1");
  const sqs = new SQSClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  try {
    const create = async (name: string, attributes: Record<string, string>) => {
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
      );
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
    return {
      endpoint,
      ingestQueueUrl: queue.url,
      ingestQueueArn: queue.arn,
      ingestDlqUrl: dlq.url,
      stop: () => app.close(),
    };
  } catch (error) {
    await app.close();
    throw error;
  } finally {
    sqs.destroy();
  }
}
