import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  type _Record as StreamRecord,
} from "@aws-sdk/client-dynamodb-streams";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";

export type StreamHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;

/** Where a stream's consumer stands: per shard, the last sequence number handled, or done. */
type Checkpoint = { streamArn: string; shards: Record<string, { sequence?: string; done?: boolean }> };

type Image = Record<string, unknown>;

/**
 * An item image as DynamoDB's JSON has it. The SDK's streams client reads an empty map
 * (`{"M": {}}`) back as `{}`, which no unmarshaller takes; Lambda hands the JSON as sent.
 */
function asJsonImage(image: Image | undefined): Image | undefined {
  if (!image) return image;
  const value = (v: unknown): unknown => {
    if (!v || typeof v !== "object" || v instanceof Uint8Array) return v;
    const av = v as Record<string, unknown>;
    const defined = Object.keys(av).filter((k) => av[k] !== undefined);
    if (defined.length === 0) return { M: {} };
    if (av.M && typeof av.M === "object") return { M: asJsonImage(av.M as Image) };
    if (Array.isArray(av.L)) return { L: av.L.map(value) };
    return v;
  };
  return Object.fromEntries(Object.entries(image).map(([k, v]) => [k, value(v)]));
}

/** The record Lambda's DynamoDB event source mapping would hand the function. */
export function toLambdaRecord(record: StreamRecord, streamArn: string, region: string): DynamoDBRecord {
  const created = record.dynamodb?.ApproximateCreationDateTime;
  const images = {
    ...(record.dynamodb?.NewImage ? { NewImage: asJsonImage(record.dynamodb.NewImage as Image) } : {}),
    ...(record.dynamodb?.OldImage ? { OldImage: asJsonImage(record.dynamodb.OldImage as Image) } : {}),
  };
  return {
    eventID: record.eventID,
    eventName: record.eventName as DynamoDBRecord["eventName"],
    eventVersion: record.eventVersion ?? "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(record.dynamodb as DynamoDBRecord["dynamodb"]),
      ...(images as DynamoDBRecord["dynamodb"]),
      ...(created ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
    },
  };
}

/**
 * Plays Lambda's DynamoDB stream event source mapping for the local runtime: reads each shard of
 * the table's stream in order (a child shard after its parent), hands the handler batches of up to
 * `batchSize` records, and moves its checkpoint past a batch only when the handler reported no
 * failure. A failed batch is handed over again from its first failed record, after a backoff,
 * until it succeeds (records stay in the stream for 24 hours). The checkpoint persists in
 * `checkpointFile` (written whole and renamed into place), so after a kill -9 reading resumes
 * after the last batch handled: a change whose events were not yet published is read again.
 * `stop()` lets the current batch finish.
 */
export function startStreamPoller(options: {
  dynamo: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  tableName: string;
  region: string;
  handler: StreamHandler;
  checkpointFile?: string | undefined;
  batchSize?: number;
  /**
   * Wait between reads of an idle stream (Lambda reads each shard about 4 times a second); a read
   * of fewer than half a batch waits too, so a trickle of changes makes fuller batches.
   */
  idleMs?: number;
  onError?: (error: unknown) => void;
}): { stop: () => Promise<void> } {
  const batchSize = options.batchSize ?? 100;
  const idleMs = options.idleMs ?? 200;
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  let checkpoint: Checkpoint | undefined;
  if (options.checkpointFile && existsSync(options.checkpointFile)) {
    try {
      checkpoint = JSON.parse(readFileSync(options.checkpointFile, "utf8")) as Checkpoint;
    } catch (error) {
      options.onError?.(
        new Error(`unreadable stream checkpoint ${options.checkpointFile}: ${String(error)}`),
      );
    }
  }
  const save = () => {
    if (!options.checkpointFile || !checkpoint) return;
    const temporary = `${options.checkpointFile}.tmp`;
    writeFileSync(temporary, JSON.stringify(checkpoint));
    renameSync(temporary, options.checkpointFile);
  };

  const iterators = new Map<string, string>();
  let shards: Shard[] = [];
  let shardsReadAt = 0;

  // The table's stream, described again every few seconds (a stream turned on later, a new table).
  let arnRead: { arn: string | undefined; at: number } | undefined;
  const streamArn = async (): Promise<string | undefined> => {
    if (arnRead?.arn && Date.now() - arnRead.at < 10_000) return arnRead.arn;
    const table = await options.dynamo.send(new DescribeTableCommand({ TableName: options.tableName }));
    arnRead = { arn: table.Table?.LatestStreamArn, at: Date.now() };
    return arnRead.arn;
  };

  const listShards = async (arn: string): Promise<Shard[]> => {
    const all: Shard[] = [];
    let start: string | undefined;
    do {
      const page = await options.streams.send(
        new DescribeStreamCommand({ StreamArn: arn, ExclusiveStartShardId: start }),
      );
      all.push(...(page.StreamDescription?.Shards ?? []));
      start = page.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return all;
  };

  /** Reads one batch of a shard; true when it was at least half full (read again at once). */
  const readShard = async (arn: string, shard: Shard, state: Checkpoint): Promise<boolean> => {
    const id = shard.ShardId as string;
    const position = state.shards[id] ?? {};
    state.shards[id] = position;
    let iterator = iterators.get(id);
    if (!iterator) {
      const got = await options.streams.send(
        new GetShardIteratorCommand({
          StreamArn: arn,
          ShardId: id,
          ...(position.sequence
            ? { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", SequenceNumber: position.sequence }
            : { ShardIteratorType: "TRIM_HORIZON" }),
        }),
      );
      iterator = got.ShardIterator;
      if (!iterator) {
        position.done = true;
        save();
        return false;
      }
    }
    const page = await options.streams.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize }),
    );
    const records = page.Records ?? [];
    if (records.length > 0) {
      const response = await options.handler({
        Records: records.map((r) => toLambdaRecord(r, arn, options.region)),
      });
      const failed = response?.batchItemFailures?.[0]?.itemIdentifier;
      if (failed !== undefined) {
        // Resume at the failed record: everything before it was handled.
        const index = records.findIndex((r) => r.dynamodb?.SequenceNumber === failed);
        const before = index > 0 ? records[index - 1]?.dynamodb?.SequenceNumber : undefined;
        if (before) position.sequence = before;
        save();
        iterators.delete(id);
        throw new Error(`stream batch failed at ${failed}; handing it over again`);
      }
      position.sequence = records.at(-1)?.dynamodb?.SequenceNumber ?? position.sequence;
      save();
    }
    if (page.NextShardIterator) iterators.set(id, page.NextShardIterator);
    else {
      iterators.delete(id);
      position.done = true;
      save();
    }
    return records.length >= batchSize / 2;
  };

  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const arn = await streamArn();
        if (!arn) {
          await sleep(1000);
          continue;
        }
        if (checkpoint?.streamArn !== arn) {
          checkpoint = { streamArn: arn, shards: {} };
          iterators.clear();
          shardsReadAt = 0;
        }
        const state = checkpoint;
        if (Date.now() - shardsReadAt > 5_000) {
          shards = await listShards(arn);
          shardsReadAt = Date.now();
        }
        const known = new Set(shards.map((s) => s.ShardId));
        let busy = false;
        for (const shard of shards) {
          if (stopped) break;
          const id = shard.ShardId as string;
          if (state.shards[id]?.done) continue;
          const parent = shard.ParentShardId;
          if (parent && known.has(parent) && !state.shards[parent]?.done) continue;
          busy = (await readShard(arn, shard, state)) || busy;
        }
        failures = 0;
        if (!busy) await sleep(idleMs);
      } catch (error) {
        if (stopped) break;
        options.onError?.(error);
        iterators.clear();
        arnRead = undefined;
        failures++;
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
