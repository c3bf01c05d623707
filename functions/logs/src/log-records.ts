import type { SQSRecord } from "aws-lambda";
import * as z from "zod";
import { asTenant } from "#core/actor.js";
import { isUuid } from "#core/ids.js";
import * as Log from "#core/log/index.js";

const envelope = z.object({
  kind: z.literal("log"),
  tenant_id: z.string().refine(isUuid, "must be a UUID"),
  logs: z.array(z.unknown()).min(1),
});

/**
 * The `log` message kind: lines of one `write_run_logs` call, stored for the tenant that sent
 * them. Failures are per line: every line that can be stored is stored, and the lines that never
 * can (malformed, or refused by DynamoDB) are parked together on the DLQ with the first reason,
 * so one bad line never costs its siblings; then the message counts as handled. A body without a
 * usable envelope (no tenant) is parked whole. Transient failures throw: the message is
 * redelivered and rewritten idempotently.
 */
export async function handleLogMessage(body: unknown, record: SQSRecord): Promise<void> {
  const parsed = envelope.safeParse(body);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    await Log.deadLetter(record.body, `malformed log message: ${reason}`, record.messageId);
    return;
  }
  const { tenant_id: tenant, logs } = parsed.data;
  const bad: Array<{ line: unknown; error: string }> = [];
  const good: Log.LogRecord[] = [];
  logs.forEach((line, index) => {
    const checked = Log.logRecord.safeParse(line);
    if (checked.success) good.push(checked.data);
    else {
      const reason = checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      bad.push({ line, error: `logs[${index}]: malformed line: ${reason}` });
    }
  });
  if (good.length > 0) {
    const rejected = await asTenant(tenant, () => Log.storeEach(good));
    for (const { record: line, error } of rejected) bad.push({ line, error: `line ${line.id}: ${error}` });
  }
  if (bad.length > 0) {
    const parked = JSON.stringify({ kind: "log", tenant_id: tenant, logs: bad.map((b) => b.line) });
    const more = bad.length > 1 ? ` (and ${bad.length - 1} more lines)` : "";
    await Log.deadLetter(parked, `${bad[0]?.error ?? "not storable"}${more}`, record.messageId);
  }
}
