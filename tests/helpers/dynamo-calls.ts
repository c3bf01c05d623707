import { useDynamo } from "#core/dynamo/client.js";

/** Items DynamoDB read (ScannedCount) for what `fn` does, counted on the app's own client. */
export async function itemsRead(fn: () => Promise<unknown>): Promise<number> {
  let scanned = 0;
  const name = `count-${Math.random()}`;
  useDynamo().middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const output = result.output as { ScannedCount?: number } | undefined;
      scanned += output?.ScannedCount ?? 0;
      return result;
    },
    { step: "initialize", name },
  );
  try {
    await fn();
  } finally {
    useDynamo().middlewareStack.remove(name);
  }
  return scanned;
}

/** Storage calls the app's own client sent while `fn` ran, by command name. */
export async function callsMade(fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  const name = `calls-${Math.random()}`;
  useDynamo().middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      calls[command] = (calls[command] ?? 0) + 1;
      return next(args);
    },
    { step: "initialize", name },
  );
  try {
    await fn();
  } finally {
    useDynamo().middlewareStack.remove(name);
  }
  return calls;
}
