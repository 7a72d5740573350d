// The ratio chart, written by hand (no chart dependency): one row per figure, a bar against raw
// ws and one against Socket.IO (and, when measured, the same two for sente-rx loaded by
// wire-protocol clients), on a log scale centred on 1×. Bars are "advantage" — the ratio for
// higher-is-better figures and its inverse for lower-is-better ones — so right of 1× always means
// sente-rx is better. A dark tick marks a ratio target (issues 5, 10) where there is one.

import type { Results } from './bench.js';
import { METRICS, SCENARIO_TITLES } from './metrics.js';
import { IMPL_TITLES, ratio, type Subject } from './report.js';
import { SENTE_WIRE, type Peer } from './types.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Series {
  readonly subject: Subject;
  readonly peer: Peer;
  readonly color: string;
  readonly legend: string;
}

const SERIES: readonly Series[] = [
  { subject: 'sente-rx', peer: 'ws', color: '#4c78a8', legend: 'vs raw ws' },
  { subject: 'sente-rx', peer: 'socket.io', color: '#f58518', legend: 'vs Socket.IO' },
  { subject: SENTE_WIRE, peer: 'ws', color: '#9ecae9', legend: 'vs raw ws, sente-rx on wire loaders' },
  { subject: SENTE_WIRE, peer: 'socket.io', color: '#ffbf79', legend: 'vs Socket.IO, sente-rx on wire loaders' },
];

export function ratiosSvg(results: Results): string {
  const rows = METRICS.filter((d) => d.chart && d.better !== null && results.values[d.key]?.['sente-rx']);
  const series = SERIES.filter((s) => rows.some((d) => ratio(results.values, d.key, s.peer, s.subject) !== undefined));
  const W = 920;
  const labelW = 250;
  const plotX = labelW + 10;
  const plotW = W - plotX - 60;
  const barH = 11;
  const rowH = barH * series.length + 12;
  const legendRows = Math.ceil(series.length / 2);
  const top = 58 + legendRows * 18;
  const H = top + rows.length * rowH + 40;
  const lo = Math.log2(1 / 8);
  const hi = Math.log2(8);
  const x = (adv: number): number => plotX + ((Math.min(hi, Math.max(lo, Math.log2(adv))) - lo) / (hi - lo)) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">sente-rx advantage over raw ws and Socket.IO (${esc(results.config.name)} run, ${esc(results.startedAt.slice(0, 10))})</text>`);
  out.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">right of 1× = sente-rx better (ratio of medians, inverted where lower is better); log scale; black tick = target (issues 5, 10)</text>`);
  series.forEach((s, i) => {
    const lx = 120 + (i % 2) * 340;
    const ly = 52 + Math.floor(i / 2) * 18;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${s.color}"/><text x="${lx + 18}" y="${ly + 10}">${esc(s.legend)}</text>`);
  });
  const bottom = top + rows.length * rowH;
  for (const g of [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8]) {
    const gx = x(g).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${bottom}" stroke="${g === 1 ? '#222' : '#ddd'}" stroke-width="${g === 1 ? 1.5 : 1}"/>`);
    out.push(`<text x="${gx}" y="${bottom + 16}" text-anchor="middle" fill="#555">${g < 1 ? `1/${1 / g}` : g}×</text>`);
  }
  rows.forEach((def, r) => {
    const y = top + r * rowH;
    const mid = y + (barH * series.length) / 2;
    out.push(`<text x="${labelW}" y="${mid - 3}" text-anchor="end" fill="#777" font-size="11">${esc(SCENARIO_TITLES[def.scenario])}</text>`);
    out.push(`<text x="${labelW}" y="${mid + 11}" text-anchor="end">${esc(def.label)}</text>`);
    series.forEach((s, i) => {
      const by = y + i * barH;
      // Not measured by design (wire loaders for memory and bundles; a snippet's size): no bar, no label.
      if (!results.values[def.key]?.[s.subject] || (def.chartPeers && !def.chartPeers.includes(s.peer))) return;
      const rr = ratio(results.values, def.key, s.peer, s.subject);
      if (rr === undefined || rr <= 0) {
        out.push(`<text x="${(x(1) + 4).toFixed(1)}" y="${by + barH - 2}" fill="#aaa" font-size="9">n/a (${esc(IMPL_TITLES[s.peer])} has none)</text>`);
        return;
      }
      const adv = def.better === 'higher' ? rr : 1 / rr;
      const x0 = Math.min(x(1), x(adv));
      const w = Math.max(1, Math.abs(x(adv) - x(1)));
      const title = `${def.label}: ${IMPL_TITLES[s.subject]} ÷ ${IMPL_TITLES[s.peer]} = ${rr.toFixed(3)}×`;
      out.push(`<rect x="${x0.toFixed(1)}" y="${by + 1}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${s.color}"><title>${esc(title)}</title></rect>`);
      const tx = adv >= 1 ? x(adv) + 4 : x(adv) - 4;
      out.push(`<text x="${tx.toFixed(1)}" y="${by + barH - 2}" text-anchor="${adv >= 1 ? 'start' : 'end'}" font-size="9" fill="#333">${adv.toFixed(2)}×</text>`);
      const target = def.targets?.find((t) => t.kind !== 'limit' && t.kind !== 'diff' && t.peer === s.peer);
      if (target && target.kind !== 'limit' && target.kind !== 'diff') {
        const tx2 = x(def.better === 'higher' ? target.ratio : 1 / target.ratio).toFixed(1);
        out.push(`<line x1="${tx2}" y1="${by}" x2="${tx2}" y2="${by + barH}" stroke="#000" stroke-width="2"><title>target</title></line>`);
      }
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
