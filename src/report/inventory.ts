/** `lm-probe inventory`: what the probes will check, one row per port, then each source's status. */
import type { Inventory } from '../inventory/types.js';

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
}

export function formatInventory(inv: Inventory): string {
  const rows = [['INSTANCE', 'NAME', 'STATE', 'PORT', 'IPS', 'TAP', 'OFPORT', 'SOURCES']];
  for (const i of [...inv.instances].sort((a, b) => (a.name ?? a.uuid).localeCompare(b.name ?? b.uuid))) {
    const state = i.stateReason && i.stateReason !== 'unknown' ? `${i.state} (${i.stateReason})` : i.state;
    const ports = i.ports.length ? i.ports : [undefined];
    ports.forEach((p, n) => {
      rows.push([
        n === 0 ? i.uuid : '',
        n === 0 ? (i.name ?? '-') : '',
        n === 0 ? state : '',
        p ? (p.id ? p.id.slice(0, 8) : '?') : '-',
        p?.ips.join(',') || '-',
        p?.tap ?? '-',
        p?.ofport !== undefined ? String(p.ofport) : '-',
        [...new Set([...i.sources, ...(p?.sources ?? [])])].join(','),
      ]);
    });
  }
  const out = [...table(rows), '', 'sources:'];
  out.push(...table(inv.sources.map((s) => [`  ${s.source}`, s.state, s.detail])));
  if (inv.findings.length) out.push('', 'findings:', ...inv.findings.map((f) => `  ${f}`));
  return `${out.join('\n')}\n`;
}
