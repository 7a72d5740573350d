// A log-bucketed latency histogram: 1 % resolution from 1 µs to 100 s, mergeable across processes
// (plain arrays travel over IPC), so every delivery counts towards the percentiles without storing
// millions of samples.

const MIN_MS = 0.001;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
export const BUCKETS = Math.ceil(Math.log(100_000 / MIN_MS) / LOG_GROWTH) + 1;

export class Histogram {
  counts = new Array<number>(BUCKETS).fill(0);
  total = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH) + 1);
    this.counts[i]! += 1;
    this.total += 1;
  }

  merge(counts: readonly number[]): void {
    for (let i = 0; i < BUCKETS; i++) {
      const c = counts[i] ?? 0;
      this.counts[i]! += c;
      this.total += c;
    }
  }

  /** Returns the counts and starts over. */
  take(): number[] {
    const out = this.counts;
    this.counts = new Array<number>(BUCKETS).fill(0);
    this.total = 0;
    return out;
  }

  /** The value below which `q` (0..1) of the recordings fall; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === 0 ? MIN_MS : MIN_MS * GROWTH ** (i - 0.5);
    }
    return Number.NaN;
  }
}
