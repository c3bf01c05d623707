import { gunzipSync } from "node:zlib";
import * as z from "zod";
import { ValidationError } from "../errors.js";
import { DYNAMO_ATTRIBUTE_DEPTH, describePath, storable, storableIssue } from "../storable.js";

/** Compressed serialized flows are stored as sent; this bounds one flow item well under 400 KB. */
export const MAX_COMPRESSED_FLOW_BYTES = 300 * 1024;
const MAX_FLOW_JSON_BYTES = 20 * 1024 * 1024;

/** A task's slug is part of a sort key (1,024 bytes at most in DynamoDB, with its prefix). */
export const MAX_SLUG_BYTES = 800;
/** A task item, or the flow item's own JSON fields together: well under DynamoDB's 400 KB item. */
export const MAX_STORED_FIELDS_BYTES = 64 * 1024;
export const slugSchema = z
  .string()
  .min(1)
  .refine(
    (slug) => Buffer.byteLength(slug, "utf8") <= MAX_SLUG_BYTES,
    `a slug is at most ${MAX_SLUG_BYTES} bytes`,
  );
/** A task's fields become the attributes of its item. */
export const storableTask = storable({
  as: "native",
  maxDepth: DYNAMO_ATTRIBUTE_DEPTH + 1,
  maxBytes: MAX_STORED_FIELDS_BYTES,
});

const taskSchema = z
  .object({
    slug: slugSchema,
    name: z.string().nullish(),
    type: z.string().nullish(),
    max_retries: z.number().int().nullish(),
    retry_delay: z.unknown().optional(),
    trigger: z.unknown().optional(),
    tags: z.array(z.string()).nullish(),
    auto_generated: z.boolean().nullish(),
    cache_key: z.string().nullish(),
  })
  .loose()
  .superRefine(storableTask);

const edgeSchema = z
  .object({
    upstream_task: z.object({ slug: slugSchema }).loose(),
    downstream_task: z.object({ slug: slugSchema }).loose(),
    key: z.string().max(1_000).nullish(),
    mapped: z.boolean().nullish(),
  })
  .loose();

const parameterSchema = z
  .object({
    name: z.string().min(1),
    slug: z.string().nullish(),
    required: z.boolean().nullish(),
    default: z.unknown().optional(),
  })
  .loose();

export const serializedFlowSchema = z
  .object({
    name: z.string().min(1, "a flow needs a name"),
    type: z.string().nullish(),
    schedule: z.unknown().optional(),
    parameters: z.array(parameterSchema).default([]),
    tasks: z.array(taskSchema).default([]),
    edges: z.array(edgeSchema).default([]),
    reference_tasks: z.array(z.unknown()).nullish(),
    run_config: z.record(z.string(), z.unknown()).nullish(),
    storage: z.record(z.string(), z.unknown()).nullish(),
    environment: z.record(z.string(), z.unknown()).nullish(),
    __version__: z.string().nullish(),
  })
  .loose()
  // The flow's fields (parameters, run_config, storage, schedule...) and its tasks' are attributes
  // of items: one level under the flow, so the flow may hold one level more than an attribute.
  .superRefine(storable({ as: "native", maxDepth: DYNAMO_ATTRIBUTE_DEPTH + 1 }));

export type SerializedFlow = z.infer<typeof serializedFlowSchema>;
export type SerializedTask = z.infer<typeof taskSchema>;
export type SerializedEdge = z.infer<typeof edgeSchema>;

function issues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? describePath("", i.path) : "flow"}: ${i.message}`)
    .join("; ");
}

/** Validates a flow as JSON (what `register_tasks`-era clients and our SDK send). */
export function parseSerializedFlow(value: unknown): SerializedFlow {
  const parsed = serializedFlowSchema.safeParse(value);
  if (!parsed.success)
    throw new ValidationError(`serialized_flow is not a Prefect flow: ${issues(parsed.error)}`);
  const { parameters, environment, run_config, storage, schedule } = parsed.data;
  const stored = storableIssue(
    { parameters, environment, run_config, storage, schedule },
    { as: "native", maxDepth: DYNAMO_ATTRIBUTE_DEPTH + 1, maxBytes: MAX_STORED_FIELDS_BYTES },
  );
  if (stored) {
    throw new ValidationError(
      `serialized_flow cannot be stored: ${describePath("serialized_flow", stored.path)}: ${stored.message} (parameters, environment, run_config, storage and schedule together)`,
    );
  }
  const slugs = new Set<string>();
  for (const task of parsed.data.tasks) {
    if (slugs.has(task.slug))
      throw new ValidationError(`serialized_flow has two tasks with slug "${task.slug}"`);
    slugs.add(task.slug);
  }
  for (const edge of parsed.data.edges) {
    for (const end of [edge.upstream_task.slug, edge.downstream_task.slug]) {
      if (!slugs.has(end)) throw new ValidationError(`serialized_flow has an edge to unknown task "${end}"`);
    }
  }
  return parsed.data;
}

/** Decodes `create_flow_from_compressed_string`'s payload: base64 of gzip of the flow JSON. */
export function decompressFlow(compressed: string): SerializedFlow {
  if (Buffer.byteLength(compressed) > (MAX_COMPRESSED_FLOW_BYTES * 4) / 3 + 4) {
    throw new ValidationError(
      `serialized_flow is too large: ${Math.round(Buffer.byteLength(compressed) / 1024)} KB encoded (limit ${MAX_COMPRESSED_FLOW_BYTES / 1024} KB compressed)`,
    );
  }
  if (!/^[A-Za-z0-9+/=\s]+$/.test(compressed))
    throw new ValidationError("serialized_flow is not valid base64");
  const bytes = Buffer.from(compressed, "base64");
  let json: string;
  try {
    json = gunzipSync(bytes, { maxOutputLength: MAX_FLOW_JSON_BYTES }).toString("utf8");
  } catch {
    throw new ValidationError(
      "serialized_flow is not gzip-compressed data (expected base64 of gzip of the flow JSON)",
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ValidationError("serialized_flow does not decompress to JSON");
  }
  return parseSerializedFlow(value);
}
