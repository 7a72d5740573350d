// The recovery scenario's figures and their tables (no imports: run.ts uses it without Redis or the server).

export interface PerMessageRow {
  readonly broker: 'memory' | 'redis';
  readonly recovery: boolean;
  readonly pushes: number;
  readonly frames: number;
  /** This process (server core + broker client), user + system. */
  readonly cpuUsPerPush: number;
  readonly wallUsPerPush: number;
  /** This process's heap after gc(), before → after the pushes. */
  readonly retainedBytesPerPush: number;
  readonly wireBytesPerPush: number;
  /** The redis-server process (INFO used_cpu_user + used_cpu_sys). */
  readonly redisCpuUsPerPush?: number;
  /** Redis `used_memory`, before → after. */
  readonly redisBytesPerPush?: number;
}

export interface IdleLogRow {
  readonly broker: 'memory' | 'redis';
  readonly users: number;
  readonly eventsPerUser: number;
  readonly bytesPerIdleUserLog: number;
  readonly bytesPerLoggedEvent: number;
  /** Redis: the uid's meta hash (generation + counter), kept 24 h after the events expire. */
  readonly metaBytesPerUser?: number;
}

export interface RecoverRow {
  readonly broker: 'memory' | 'redis';
  readonly missed: number;
  readonly rounds: number;
  readonly replayBytes: number;
  readonly medianMs: number;
  readonly maxMs: number;
}

export interface RecoveryResult {
  readonly node: string;
  /** Whether the process ran with --expose-gc (memory figures are noise without it). */
  readonly gc: boolean;
  readonly perMessage: readonly PerMessageRow[];
  readonly idleLog: readonly IdleLogRow[];
  readonly recover: readonly RecoverRow[];
  /** Why there are no Redis rows. */
  readonly redisSkipped?: string;
}

// null: what JSON makes of undefined and NaN (run.ts reads the result from the child's JSON).
const fmt = (x: number | null | undefined, d = 1): string => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
const name = (b: 'memory' | 'redis'): string => (b === 'memory' ? 'in-memory' : 'Redis');

/** Markdown tables of one run (also printed by the standalone script). */
export function recoveryTable(r: RecoveryResult): string {
  const lines = [
    '| broker | recovery | pushes | server CPU µs/push | server heap B/push | wire B/push | Redis CPU µs/push | Redis memory B/push |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const m of r.perMessage) {
    lines.push(
      `| ${name(m.broker)} | ${m.recovery ? 'on' : 'off'} | ${m.pushes} | ${fmt(m.cpuUsPerPush, 2)} | ${fmt(m.retainedBytesPerPush, 0)} | ${fmt(m.wireBytesPerPush, 0)} | ${fmt(m.redisCpuUsPerPush, 2)} | ${fmt(m.redisBytesPerPush, 0)} |`,
    );
  }
  const ratios: string[] = [];
  for (const b of ['memory', 'redis'] as const) {
    const on = r.perMessage.find((m) => m.broker === b && m.recovery);
    const off = r.perMessage.find((m) => m.broker === b && !m.recovery);
    if (on !== undefined && off !== undefined) ratios.push(`${name(b)} ${fmt(on.cpuUsPerPush / off.cpuUsPerPush, 2)}×`);
  }
  if (ratios.length > 0) lines.push('', `Server CPU per push, recovery on ÷ off: ${ratios.join(', ')}.`);
  lines.push('', '| broker | idle user logs | per idle user log (default bound) | per logged event | meta per uid |', '|---|---|---|---|---|');
  for (const i of r.idleLog) {
    lines.push(`| ${name(i.broker)} | ${i.users} uids × ${i.eventsPerUser} events | ${fmt(i.bytesPerIdleUserLog / 1024, 1)} KiB | ${fmt(i.bytesPerLoggedEvent, 0)} B | ${i.metaBytesPerUser === undefined ? '–' : `${fmt(i.metaBytesPerUser, 0)} B`} |`);
  }
  lines.push('', '| broker | missed events | replay batch | median ms | max ms | rounds |', '|---|---|---|---|---|---|');
  for (const x of r.recover) lines.push(`| ${name(x.broker)} | ${x.missed} | ${fmt(x.replayBytes / 1024, 1)} KiB | ${fmt(x.medianMs, 2)} | ${fmt(x.maxMs, 2)} | ${x.rounds} |`);
  if (r.redisSkipped !== undefined) lines.push('', `No Redis figures: ${r.redisSkipped}.`);
  if (!r.gc) lines.push('', 'Run without --expose-gc: the memory figures are noise.');
  return lines.join('\n');
}
