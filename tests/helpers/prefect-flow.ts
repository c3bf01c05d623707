import { gzipSync } from "node:zlib";

/**
 * Flows and states shaped as Prefect 1.4.1 serializes them (no test framework here: the bench
 * uses them too).
 */
export const VERSION = "1.4.1";

function task(slug: string, options: { maxRetries?: number; type?: string; tags?: string[] } = {}) {
  return {
    slug,
    name: slug.replace(/-\d+$/, ""),
    type: options.type ?? "prefect.tasks.core.function.FunctionTask",
    max_retries: options.maxRetries ?? 0,
    retry_delay: options.maxRetries ? 1 : null,
    trigger: { fn: "prefect.triggers.all_successful", kwargs: {} },
    tags: options.tags ?? [],
    auto_generated: false,
    cache_key: null,
    inputs: {},
    outputs: "typing.Any",
    __version__: VERSION,
  };
}

function edge(upstream: string, downstream: string, key: string | null, mapped = false) {
  return {
    upstream_task: { slug: upstream, __version__: VERSION },
    downstream_task: { slug: downstream, __version__: VERSION },
    key,
    mapped,
    flattened: false,
    __version__: VERSION,
  };
}

/**
 * A flow with a required parameter `n`, three chained tasks (extract → transform → load, transform
 * may retry) and a task mapped over transform's output (square); `extraTasks` more (`extra-1`...)
 * without edges. `tags` gives tasks tags by slug (`"*"`: every task but the parameter).
 */
export function pipelineFlow(
  name: string,
  options: { labels?: string[]; extraTasks?: number; tags?: Record<string, string[]> } = {},
) {
  const tagsOf = (slug: string) => options.tags?.[slug] ?? options.tags?.["*"] ?? [];
  const extra = Array.from({ length: options.extraTasks ?? 0 }, (_, i) =>
    task(`extra-${i + 1}`, { tags: tagsOf(`extra-${i + 1}`) }),
  );
  return {
    name,
    type: "prefect.core.flow.Flow",
    schedule: null,
    parameters: [
      {
        name: "n",
        slug: "n",
        required: true,
        default: null,
        type: "prefect.core.parameter.Parameter",
        __version__: VERSION,
      },
    ],
    tasks: [
      task("n", { type: "prefect.core.parameter.Parameter" }),
      task("extract-1", { tags: tagsOf("extract-1") }),
      task("transform-1", { maxRetries: 2, tags: tagsOf("transform-1") }),
      task("load-1", { tags: tagsOf("load-1") }),
      task("square-1", { tags: tagsOf("square-1") }),
      ...extra,
    ],
    edges: [
      edge("n", "extract-1", "n"),
      edge("extract-1", "transform-1", "data"),
      edge("transform-1", "load-1", "data"),
      edge("transform-1", "square-1", "x", true),
    ],
    reference_tasks: [],
    environment: null,
    run_config: { type: "UniversalRun", labels: options.labels ?? [], env: null, __version__: VERSION },
    storage: { type: "Local", directory: "/tmp/flows", flows: { [name]: `/tmp/flows/${name}.py` } },
    __version__: VERSION,
  };
}

/**
 * The two-task flow of the recorded client session's hello-flow: a task returning a list
 * (`items`) and a task mapped over it (`work`), no parameters; run-config labels as given.
 */
export function mappedFlow(name: string, options: { labels?: string[] } = {}) {
  return {
    ...pipelineFlow(name, options),
    parameters: [],
    tasks: [task("items-1"), task("work-1")],
    edges: [edge("items-1", "work-1", "x", true)],
  };
}

/** base64 of gzip of the flow JSON, as `create_flow_from_compressed_string` expects. */
export function compress(flow: unknown): string {
  return gzipSync(Buffer.from(JSON.stringify(flow))).toString("base64");
}

/** A Prefect-serialized state as the client sends it. */
export function state(type: string, extra: Record<string, unknown> = {}) {
  return {
    type,
    message: `${type}.`,
    context: { tags: [] },
    cached_inputs: {},
    _result: { type: "NoResultType", __version__: VERSION },
    __version__: VERSION,
    ...extra,
  };
}
