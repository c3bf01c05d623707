/** Runs `count` workers in parallel (worker index 0..count-1) and waits for all of them. */
export async function runWorkers(count: number, worker: (index: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, index) => worker(index)));
}
