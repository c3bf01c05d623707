import { asTenant } from "#core/actor.js";
import * as Log from "#core/log/index.js";

/**
 * The `log` message kind: lines of one `write_run_logs` call, stored for the tenant that sent
 * them. A body that does not parse throws, so the record fails on every delivery and lands in the
 * DLQ after the queue's maxReceiveCount; the other records of its batch are unaffected.
 */
export async function handleLogMessage(body: unknown): Promise<void> {
  const parsed = Log.logMessage.safeParse(body);
  if (!parsed.success) {
    throw new Error(
      `malformed log message: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const message = parsed.data;
  await asTenant(message.tenant_id, () => Log.store(message.logs));
}
