/**
 * The commented example config, generated from the schema so it can never drift from it.
 * config/lm-probe.example.yaml is this text (a unit test holds them equal);
 * `lm-probe config --example` prints it.
 */
import { stringify } from 'yaml';
import type { Field, MapField, ObjectField, VariantsField } from './schema.js';

type Leaf = Exclude<Field, ObjectField | MapField | VariantsField>;

function scalar(f: Leaf): string {
  const v = f.kind === 'range' ? String(f.default) : f.default;
  return Array.isArray(v) ? JSON.stringify(v) : stringify(v).trim();
}

function render(fields: ObjectField['fields'], indent: string, out: string[]): void {
  for (const [key, f] of Object.entries(fields)) {
    if (f.kind === 'object') {
      if (f.doc) out.push(`${indent}# ${f.doc}`);
      out.push(`${indent}${key}:`);
      render(f.fields, `${indent}  `, out);
      continue;
    }
    if (f.kind === 'map') {
      out.push(`${indent}${key}: {}`.padEnd(40) + `  # ${f.doc}`);
      continue;
    }
    if (f.kind === 'variants') {
      out.push(`${indent}${key}: []`.padEnd(40) + `  # ${f.doc}`);
      for (const [type, shape] of Object.entries(f.variants)) {
        const lines: string[] = [];
        render(shape, `${indent}#   `, lines);
        out.push(`${indent}#  - type: ${type}`, ...lines.map((l) => l.replace(`${indent}#   `, `${indent}#    `)));
      }
      continue;
    }
    const values = f.kind === 'enum' ? ` (${f.values.join(' | ')})` : '';
    out.push(`${indent}${key}: ${scalar(f)}`.padEnd(40) + `  # ${f.doc}${values}`);
  }
}

export function renderExample(schema: ObjectField): string {
  const out = [
    '# lm-probe configuration: every key is optional; the values shown are the defaults.',
    '# Default location: /etc/lm-probe/config.yaml (absent: these defaults are used).',
    '',
  ];
  render(schema.fields, '', out);
  return `${out.join('\n')}\n`;
}
