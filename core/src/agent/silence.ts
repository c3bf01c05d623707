import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { AGENT_WATCH_SHARDS, AgentKeys } from "./keys.js";

export type SilenceResult = { candidates: number; silenced: number; refreshed: number; raced: number };

/**
 * The scheduler's silence check (docs/events.md): an agent that has not polled for `livenessMs`
 * is marked `silent_since` (its last poll), which the table's stream turns into one `AgentSilent`
 * event; its next poll clears the mark. Candidates come from the `watch` index only
 * (`AGENT_WATCH_SHARDS` Query pages of entries older than the window): an entry whose agent polled
 * since is moved up to that poll (`refreshed`), so a live agent costs one index write per window,
 * not one per poll. Both writes are conditional on the entry read, so a poll racing the tick wins.
 */
export async function checkAgentSilence(options: {
  now: Date;
  livenessMs?: number;
  maxPerShard?: number;
}): Promise<SilenceResult> {
  const livenessMs = options.livenessMs ?? 300_000;
  const cutoff = new Date(options.now.getTime() - livenessMs).toISOString();
  const result: SilenceResult = { candidates: 0, silenced: 0, refreshed: 0, raced: 0 };
  for (let shard = 0; shard < AGENT_WATCH_SHARDS; shard++) {
    const page = await useDynamo().send(
      new QueryCommand({
        TableName: mainTable(),
        IndexName: "watch",
        KeyConditionExpression: "watch_pk = :pk AND watch_sk < :cutoff",
        ExpressionAttributeValues: { ":pk": AgentKeys.watchPartition(shard), ":cutoff": cutoff },
        Limit: options.maxPerShard ?? 200,
      }),
    );
    for (const item of page.Items ?? []) {
      result.candidates++;
      const t = String(item.tenant_id);
      const id = String(item.id);
      const last = typeof item.last_queried === "string" ? item.last_queried : String(item.created);
      const polledSince = last >= cutoff;
      try {
        await useDynamo().send(
          new UpdateCommand({
            TableName: mainTable(),
            Key: AgentKeys.agent(t, id),
            UpdateExpression: polledSince
              ? "SET watch_sk = :moved"
              : "SET silent_since = :last REMOVE watch_pk, watch_sk",
            ConditionExpression: "watch_sk = :seen",
            ExpressionAttributeValues: {
              ":seen": item.watch_sk,
              ...(polledSince ? { ":moved": AgentKeys.watch(t, id, last).watch_sk } : { ":last": last }),
            },
          }),
        );
        if (polledSince) result.refreshed++;
        else result.silenced++;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        result.raced++;
      }
    }
  }
  return result;
}
