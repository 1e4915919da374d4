/**
 * A tiny declarative schema for the YAML config: each key's type, default and doc.
 * Validation walks the YAML syntax tree (not the parsed value) so every error can name
 * the line it is on; the TypeScript type of a section is inferred from its schema.
 */
import { isMap, isScalar, isSeq, type Node, type LineCounter } from 'yaml';
import { parseRange } from './result.js';

interface Base<K extends string, T> { kind: K; default: T; doc: string }
export type StringField = Base<'string', string>;
export type NumberField = Base<'number', number> & { min?: number; max?: number; integer?: boolean };
export type BooleanField = Base<'boolean', boolean>;
export type RangeField = Base<'range', string>;
export type EnumField<V extends string = string> = Base<'enum', V> & { values: readonly V[] };
export type ListField = Base<'list', string[]> & { values?: readonly string[] };
export interface ObjectField<S extends Shape = Shape> { kind: 'object'; fields: S; doc: string }
export type Field = StringField | NumberField | BooleanField | RangeField | EnumField | ListField | ObjectField;
export type Shape = { [key: string]: Field };

export type Infer<F> = F extends ObjectField<infer S>
  ? { [K in keyof S]: Infer<S[K]> }
  : F extends EnumField<infer V>
    ? V
    : F extends Base<string, infer T>
      ? T
      : never;

export const str = (d: string, doc: string): StringField => ({ kind: 'string', default: d, doc });
export const num = (d: number, doc: string, o: { min?: number; max?: number; integer?: boolean } = {}): NumberField => ({ kind: 'number', default: d, doc, ...o });
export const bool = (d: boolean, doc: string): BooleanField => ({ kind: 'boolean', default: d, doc });
export const range = (d: string, doc: string): RangeField => ({ kind: 'range', default: d, doc });
export const oneOf = <V extends string>(values: readonly V[], d: V, doc: string): EnumField<V> => ({ kind: 'enum', values, default: d, doc });
export const list = (d: string[], doc: string, values?: readonly string[]): ListField => ({ kind: 'list', default: d, doc, values });
export const obj = <S extends Shape>(fields: S, doc = ''): ObjectField<S> => ({ kind: 'object', fields, doc });

export class ConfigError extends Error {
  constructor(readonly file: string, readonly line: number | null, readonly what: string) {
    super(`config error: ${file}${line ? `:${line}` : ''}: ${what}`);
    this.name = 'ConfigError';
  }
}

/** The defaults of a schema, as a plain value. */
export function defaults<F extends Field>(field: F): Infer<F> {
  if (field.kind === 'object') {
    return Object.fromEntries(Object.entries(field.fields).map(([k, f]) => [k, defaults(f)])) as Infer<F>;
  }
  const d = field.default;
  return (Array.isArray(d) ? [...d] : d) as Infer<F>;
}

export interface WalkContext { file: string; lines: LineCounter }

/** Validate a YAML node against a field and return the value with defaults filled in. */
export function validate<F extends Field>(node: unknown, field: F, path: string, ctx: WalkContext): Infer<F> {
  const line = (n: unknown): number | null => {
    const r = (n as Node | null)?.range;
    return r ? ctx.lines.linePos(r[0]).line : null;
  };
  const fail = (what: string, at: unknown = node): never => {
    throw new ConfigError(ctx.file, line(at), `${path || 'top level'}: ${what}`);
  };
  const isEmpty = node === null || node === undefined || (isScalar(node) && node.value === null);
  if (isEmpty) return defaults(field);

  switch (field.kind) {
    case 'object': {
      if (!isMap(node)) return fail('expected a mapping of keys');
      const out = defaults(field) as Record<string, unknown>;
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : null;
        const sub = key === null ? undefined : field.fields[key];
        const keyPath = path ? `${path}.${key}` : String(key);
        if (!sub) throw new ConfigError(ctx.file, line(pair.key), `unknown key "${keyPath}" (known: ${Object.keys(field.fields).join(', ')})`);
        out[key as string] = validate(pair.value, sub as Field, keyPath, ctx);
      }
      return out as Infer<F>;
    }
    case 'list': {
      if (!isSeq(node)) return fail('expected a list');
      return node.items.map((item) => {
        if (!isScalar(item) || typeof item.value !== 'string') return fail('expected a list of strings', item);
        if (field.values && !field.values.includes(item.value)) fail(`"${item.value}" is not one of ${field.values.join(', ')}`, item);
        return item.value;
      }) as Infer<F>;
    }
  }
  if (!isScalar(node)) return fail(`expected a ${field.kind}`);
  const v = node.value;
  switch (field.kind) {
    case 'string':
      if (typeof v !== 'string') return fail(`expected a string, got ${JSON.stringify(v)}`);
      return v as Infer<F>;
    case 'boolean':
      if (typeof v !== 'boolean') return fail(`expected true or false, got ${JSON.stringify(v)}`);
      return v as Infer<F>;
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`expected a number, got ${JSON.stringify(v)}`);
      if (field.integer && !Number.isInteger(v)) fail(`expected a whole number, got ${v}`);
      if (field.min !== undefined && v < field.min) fail(`must be at least ${field.min}, got ${v}`);
      if (field.max !== undefined && v > field.max) fail(`must be at most ${field.max}, got ${v}`);
      return v as Infer<F>;
    }
    case 'range': {
      const text = typeof v === 'number' ? String(v) : v;
      if (typeof text !== 'string') return fail(`expected a Nagios range, got ${JSON.stringify(v)}`);
      try {
        parseRange(text);
      } catch (err) {
        fail((err as Error).message);
      }
      return text as Infer<F>;
    }
    case 'enum':
      if (typeof v !== 'string' || !field.values.includes(v)) return fail(`expected one of ${field.values.join(', ')}, got ${JSON.stringify(v)}`);
      return v as Infer<F>;
  }
  return fail('unsupported field');
}
