/**
 * A token bucket: `rate` tokens per second up to `capacity`. `take(n)` either spends n tokens or
 * says how long until it could. A request larger than the whole bucket is let through when the
 * bucket is full and leaves it in debt, so a big batch is slowed, never refused forever.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.rate) / 1000);
  }

  /**
   * Spends `n` tokens at time `now` (ms): 0 when admitted, else the milliseconds to wait. `take(0)`
   * asks only whether the bucket is out of debt.
   */
  take(n: number, now: number): number {
    const wait = this.waitFor(n, now);
    if (wait === 0) this.tokens -= n;
    return wait;
  }

  /** The milliseconds until `n` tokens could be taken at `now` (0: now), spending nothing. */
  waitFor(n: number, now: number): number {
    this.refill(now);
    const needed = Math.min(n, this.capacity);
    return this.tokens >= needed ? 0 : Math.ceil(((needed - this.tokens) * 1000) / this.rate);
  }

  /** Spends `n` tokens already used (a cost known only afterwards), going into debt if need be. */
  spend(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** Whether the bucket is full at `now` (an idle tenant's bucket can be forgotten). */
  full(now: number): boolean {
    return this.tokens + ((now - this.last) * this.rate) / 1000 >= this.capacity;
  }
}
