import { key } from "../dynamo/keys.js";
import { FlowRunKeys } from "../flow-run/keys.js";

/** The sort-key prefix of flow-label limits inside the agents' label-set list (outside the hex range of set ids). */
export const FLOW_LABEL_PREFIX = "~flow-label#";

/**
 * Concurrency-limit items in the main table. Each limit is also its own slot counter (`used`):
 * a run takes a slot by incrementing it in the same transaction as its transition, so the item
 * is the one place a race for a slot is decided.
 * - task tag limit:   pk `<t>#task-tag-limits`  sk `<tag>`
 * - flow label limit: pk `<t>#queue-sets`       sk `~flow-label#<label>` (beside the label sets
 *   the agents' queue lists, core/src/flow-run/ready-index.ts, so a poll reads them with the same
 *   Query it already makes)
 * Tags and labels go last in the sort key, so they may contain `#`.
 */
export const ConcurrencyKeys = {
  taskTagPartition: (t: string) => key(t, "task-tag-limits"),
  taskTag: (t: string, tag: string) => ({ pk: ConcurrencyKeys.taskTagPartition(t), sk: tag }),
  flowLabelPartition: (t: string) => FlowRunKeys.readySetsPartition(t),
  flowLabel: (t: string, label: string) => ({
    pk: ConcurrencyKeys.flowLabelPartition(t),
    sk: `${FLOW_LABEL_PREFIX}${label}`,
  }),
};
