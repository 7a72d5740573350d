// The cross-node push's figures and their table (no imports: run.ts uses it without the cluster harness).

export interface ClusterPushResult {
  readonly label: string;
  readonly nodes: number;
  readonly delivered: number;
  readonly ratePerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuUsPerMsg: number;
  readonly redisCmdsPerMsg: number | undefined;
  readonly redisBytesInPerMsg: number | undefined;
  readonly redisBytesOutPerMsg: number | undefined;
  /** Per node: messages received from the bus / messages published (undefined without broker stats). */
  readonly shares: readonly (number | undefined)[];
}

// null: what JSON makes of undefined and NaN (run.ts reads the rows from the child's JSON).
const fmt = (x: number | null | undefined, d = 1): string => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(d));

export function clusterPushTable(rows: readonly ClusterPushResult[]): string {
  const lines = [
    '| broker | nodes | delivered/s (whole machine) | p50 ms | p99 ms | server CPU µs/msg | Redis cmds/msg | Redis bytes in/msg | Redis bytes out/msg | received/published per node |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.nodes} | ${fmt(r.ratePerS, 0)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.serverCpuUsPerMsg)} | ${fmt(r.redisCmdsPerMsg, 2)} | ${fmt(r.redisBytesInPerMsg, 0)} | ${fmt(r.redisBytesOutPerMsg, 0)} | ${r.shares.map((s) => fmt(s, 2)).join(' / ')} |`,
    );
  }
  return lines.join('\n');
}

