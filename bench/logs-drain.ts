import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  burst,
  createRuns,
  killGroup,
  queued,
  startRuntime,
  storageOf,
  storedCount,
} from "../tests/faults/logs-burst.js";

/**
 * How fast the embedded runtime's consumer stores a burst: `drover start` as a child process on a
 * fresh data folder, WRITERS concurrent writers send LINES lines in write_run_logs calls of
 * PER_CALL, and the stored count is polled until every line is in DynamoDB Local.
 * Prints the acknowledge rate and the store rate (lines stored / s from the first write until the
 * last line is stored). Usage: `npx tsx bench/logs-drain.ts [lines] [writers] [perCall]`.
 */
const LINES = Number(process.argv[2] ?? 20_000);
const WRITERS = Number(process.argv[3] ?? 4);
const PER_CALL = Number(process.argv[4] ?? 100);

const dataDir = mkdtempSync(join(tmpdir(), "drover-drain-"));
const child = await startRuntime(dataDir);
const storage = storageOf(dataDir);
try {
  const { tenant, runs } = await createRuns(child.graphqlUrl, WRITERS);
  const started = performance.now();
  let storedAtAck = 0;
  const sent = burst({ url: child.graphqlUrl, runs, total: LINES, perCall: PER_CALL });
  const result = await sent;
  const ackSeconds = (performance.now() - started) / 1000;
  // The consumer deletes a message only once its lines are written: an empty queue means every
  // acknowledged line is stored. Polling the queue, not the table, keeps DynamoDB Local free for
  // the consumer; the table is counted once at the end.
  storedAtAck = result.acknowledged.size - (await queued(storage, dataDir)) * PER_CALL;
  const deadline = performance.now() + 600_000;
  while ((await queued(storage, dataDir)) > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const storeSeconds = (performance.now() - started) / 1000;
  const stored = await storedCount(storage, tenant, runs);
  console.log(
    JSON.stringify({
      lines: LINES,
      writers: WRITERS,
      perCall: PER_CALL,
      acknowledged: result.acknowledged.size,
      refusals: Object.fromEntries(result.refusals),
      ackSeconds: +ackSeconds.toFixed(2),
      ackLinesPerSecond: Math.round(result.acknowledged.size / ackSeconds),
      storedWhenLastAcknowledgedApprox: storedAtAck,
      stored,
      storeSeconds: +storeSeconds.toFixed(2),
      storedLinesPerSecond: Math.round(stored / storeSeconds),
    }),
  );
} finally {
  storage.destroy();
  child.process.kill("SIGTERM");
  const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r("timeout"), 30_000))]);
  if (code === "timeout") killGroup(child);
  rmSync(dataDir, { recursive: true, force: true });
}
