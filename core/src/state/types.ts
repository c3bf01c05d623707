import * as z from "zod";
import { DroverError, ValidationError } from "../errors.js";
import { DYNAMO_ATTRIBUTE_DEPTH, formatIssues, storable } from "../storable.js";

/**
 * Prefect 1 state classes and their families, as the client serializes them (`type`).
 * The control plane reasons about families: scheduled-like states are waiting for an agent,
 * finished states are terminal, running-like states have a live process.
 */
const SCHEDULED = new Set(["Scheduled", "Retrying", "Paused", "Resume", "Queued"]);
const PENDING = new Set(["Pending", "Submitted", "ClientFailed", ...SCHEDULED]);
const RUNNING = new Set(["Running", "Cancelling"]);
const FINISHED = new Set([
  "Success",
  "Cached",
  "Mapped",
  "Skipped",
  "Looped",
  "Failed",
  "TriggerFailed",
  "TimedOut",
  "ValidationFailed",
  "Cancelled",
]);
export const KNOWN_STATES = new Set([...PENDING, ...RUNNING, ...FINISHED]);

export const isScheduled = (type: string) => SCHEDULED.has(type);
export const isRunning = (type: string) => RUNNING.has(type);
export const isFinished = (type: string) => FINISHED.has(type);

/** A serialized Prefect state: its class name, message, times and the rest kept as sent. */
const serializedState = z
  .object({
    type: z.string().min(1),
    message: z.string().nullish(),
    start_time: z.string().nullish(),
    context: z.record(z.string(), z.unknown()).nullish(),
  })
  .loose()
  // Stored as the run's `serialized_state` and inside its history list (list → entry → state).
  .superRefine(storable({ as: "native", maxDepth: DYNAMO_ATTRIBUTE_DEPTH - 2 }));

export type SerializedState = z.infer<typeof serializedState>;

export type ParsedState = {
  type: string;
  message: string | null;
  /** When a scheduled-like state should start (ISO), else null. */
  startTime: string | null;
  serialized: SerializedState;
};

/**
 * The largest serialized state accepted (UTF-8 JSON). A run item holds its current state and, in
 * its history, the same state again (state/history.ts), well within DynamoDB's 400 KB item limit.
 * Prefect 1 states carry result locations, not results, so real states are far smaller.
 */
export const MAX_STATE_BYTES = 64 * 1024;

/** Validates a state at the edge: a known type, a parseable start time, a bounded size. */
export function parseState(value: unknown): ParsedState {
  const parsed = serializedState.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(`Invalid state: ${formatIssues(parsed.error)}`);
  }
  const state = parsed.data;
  const bytes = Buffer.byteLength(JSON.stringify(state), "utf8");
  if (bytes > MAX_STATE_BYTES) {
    throw new DroverError(
      "PAYLOAD_TOO_LARGE",
      `A serialized state is ${bytes} bytes; the limit is ${MAX_STATE_BYTES} bytes (keep results in result storage, not in the state)`,
    );
  }
  if (!KNOWN_STATES.has(state.type)) throw new ValidationError(`Unknown state type "${state.type}"`);
  let startTime: string | null = null;
  if (state.start_time) {
    const ms = Date.parse(state.start_time);
    if (Number.isNaN(ms)) throw new ValidationError(`Invalid state start_time "${state.start_time}"`);
    startTime = new Date(ms).toISOString();
  }
  return { type: state.type, message: state.message ?? null, startTime, serialized: state };
}

/** A state written by the server itself (Scheduled at creation, Cancelled by cascade...). */
export function serverState(type: string, message: string, startTime?: string): ParsedState {
  const serialized: SerializedState = {
    type,
    message,
    context: {},
    cached_inputs: {},
    _result: { type: "NoResultType", __version__: "1.4.1" },
    __version__: "1.4.1",
    ...(startTime ? { start_time: startTime } : {}),
  };
  return { type, message, startTime: startTime ?? null, serialized };
}
