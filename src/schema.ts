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
/** Seconds: a number, or "500ms", "30s", "5m", "2h", "1d". */
export type DurationField = Base<'duration', number> & { min?: number; max?: number };
/** A string never shown: `lm-probe config` and --debug print it as ***. */
export type SecretField = Base<'secret', string>;
export interface ObjectField<S extends Shape = Shape> { kind: 'object'; fields: S; doc: string }
/** A field holding one value (no nested keys). */
export type LeafField = StringField | NumberField | BooleanField | RangeField | EnumField | ListField | SecretField | DurationField;
export type LeafShape = { [key: string]: LeafField };
/** Free keys, each value of one field type (e.g. probe -> service name). */
export interface MapField<V extends LeafField = LeafField> { kind: 'map'; values: V; doc: string }
/** A list of objects told apart by their `type` key, each type with its own (flat) keys. */
export interface VariantsField<V extends Record<string, LeafShape> = Record<string, LeafShape>> { kind: 'variants'; variants: V; doc: string }
export type Field = LeafField | ObjectField | MapField | VariantsField;
export type Shape = { [key: string]: Field };

type InferShape<S extends Shape> = { [K in keyof S]: Infer<S[K]> };
export type Infer<F> = F extends ObjectField<infer S>
  ? InferShape<S>
  : F extends MapField<infer V>
    ? Record<string, Infer<V>>
  : F extends VariantsField<infer V>
    ? { [K in keyof V]: { type: K } & InferShape<V[K]> }[keyof V][]
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
export const duration = (d: number, doc: string, o: { min?: number; max?: number } = {}): DurationField => ({ kind: 'duration', default: d, doc, ...o });
export const secret = (doc: string): SecretField => ({ kind: 'secret', default: '', doc });
export const map = <V extends LeafField>(values: V, doc: string): MapField<V> => ({ kind: 'map', values, doc });
export const variants = <V extends Record<string, LeafShape>>(v: V, doc: string): VariantsField<V> => ({ kind: 'variants', variants: v, doc });

export class ConfigError extends Error {
  constructor(readonly file: string, readonly line: number | null, readonly what: string) {
    super(`config error: ${file}${line ? `:${line}` : ''}: ${what}`);
    this.name = 'ConfigError';
  }
}

/** The defaults of a schema, as a plain value. */
export function defaults<F extends Field>(field: F): Infer<F> {
  return defaultValue(field) as Infer<F>;
}

export function defaultValue(field: Field): unknown {
  if (field.kind === 'object') return Object.fromEntries(Object.entries(field.fields).map(([k, f]) => [k, defaultValue(f)]));
  if (field.kind === 'map') return {};
  if (field.kind === 'variants') return [];
  const d = field.default;
  return Array.isArray(d) ? [...d] : d;
}

export interface WalkContext { file: string; lines: LineCounter }

/** Validate a YAML node against a field and return the value with defaults filled in. */
export function validate<F extends Field>(node: unknown, field: F, path: string, ctx: WalkContext): Infer<F> {
  return validateAny(node, field, path, ctx) as Infer<F>;
}

export function validateAny(node: unknown, field: Field, path: string, ctx: WalkContext): unknown {
  const line = (n: unknown): number | null => {
    const r = (n as Node | null)?.range;
    return r ? ctx.lines.linePos(r[0]).line : null;
  };
  const fail = (what: string, at: unknown = node): never => {
    throw new ConfigError(ctx.file, line(at), `${path || 'top level'}: ${what}`);
  };
  const isEmpty = node === null || node === undefined || (isScalar(node) && node.value === null);
  if (isEmpty) return defaultValue(field);

  switch (field.kind) {
    case 'object': {
      if (!isMap(node)) return fail('expected a mapping of keys');
      const out = defaultValue(field) as Record<string, unknown>;
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : null;
        const sub = key === null ? undefined : field.fields[key];
        const keyPath = path ? `${path}.${key}` : String(key);
        if (!sub) throw new ConfigError(ctx.file, line(pair.key), `unknown key "${keyPath}" (known: ${Object.keys(field.fields).join(', ')})`);
        out[key as string] = validateAny(pair.value, sub as Field, keyPath, ctx);
      }
      return out;
    }
    case 'map': {
      if (!isMap(node)) return fail('expected a mapping of keys');
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (!isScalar(pair.key)) fail('expected plain keys', pair.key);
        const key = String((pair.key as { value: unknown }).value);
        out[key] = validateAny(pair.value, field.values, `${path}.${key}`, ctx);
      }
      return out;
    }
    case 'variants': {
      if (!isSeq(node)) return fail('expected a list');
      const types = Object.keys(field.variants);
      return node.items.map((item, n) => {
        const at = `${path}[${n}]`;
        const failAt = (what: string, n: unknown): never => { throw new ConfigError(ctx.file, line(n), `${at}${what}`); };
        if (!isMap(item)) return failAt(`: expected a mapping with a type (${types.join(', ')})`, item);
        const typeNode = item.items.find((p) => isScalar(p.key) && p.key.value === 'type')?.value;
        const type = isScalar(typeNode) ? String(typeNode.value) : undefined;
        if (!type || !types.includes(type)) return failAt(`.type: expected one of ${types.join(', ')}, got ${JSON.stringify(type ?? null)}`, typeNode ?? item);
        const shape = { type: oneOf([type], type, 'which kind'), ...field.variants[type] };
        return validateAny(item, obj(shape), at, ctx);
      });
    }
    case 'list': {
      if (!isSeq(node)) return fail('expected a list');
      return node.items.map((item) => {
        if (!isScalar(item) || typeof item.value !== 'string') return fail('expected a list of strings', item);
        if (field.values && !field.values.includes(item.value)) fail(`"${item.value}" is not one of ${field.values.join(', ')}`, item);
        return item.value;
      });
    }
  }
  if (!isScalar(node)) return fail(`expected a ${field.kind}`);
  const v = node.value;
  switch (field.kind) {
    case 'secret':
      if (typeof v !== 'string') return fail('expected a string');
      return v;
    case 'duration': {
      const secs = parseDuration(v);
      if (secs === undefined) return fail(`expected a duration (30, "30s", "5m", "2h", "1d"), got ${JSON.stringify(v)}`);
      if (field.min !== undefined && secs < field.min) fail(`must be at least ${field.min}s, got ${secs}s`);
      if (field.max !== undefined && secs > field.max) fail(`must be at most ${field.max}s, got ${secs}s`);
      return secs;
    }
    case 'string':
      if (typeof v !== 'string') return fail(`expected a string, got ${JSON.stringify(v)}`);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') return fail(`expected true or false, got ${JSON.stringify(v)}`);
      return v;
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`expected a number, got ${JSON.stringify(v)}`);
      if (field.integer && !Number.isInteger(v)) fail(`expected a whole number, got ${v}`);
      if (field.min !== undefined && v < field.min) fail(`must be at least ${field.min}, got ${v}`);
      if (field.max !== undefined && v > field.max) fail(`must be at most ${field.max}, got ${v}`);
      return v;
    }
    case 'range': {
      const text = typeof v === 'number' ? String(v) : v;
      if (typeof text !== 'string') return fail(`expected a Nagios range, got ${JSON.stringify(v)}`);
      try {
        parseRange(text);
      } catch (err) {
        fail((err as Error).message);
      }
      return text;
    }
    case 'enum':
      if (typeof v !== 'string' || !field.values.includes(v)) return fail(`expected one of ${field.values.join(', ')}, got ${JSON.stringify(v)}`);
      return v;
  }
  return fail('unsupported field');
}

/** A copy of a config value with every non-empty secret replaced by ***, for printing. */
export function redact(value: unknown, field: Field): unknown {
  if (field.kind === 'secret') return value ? '***' : value;
  if (!isPlainObject(value) && !Array.isArray(value)) return value;
  if (field.kind === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = field.fields[k] ? redact(v, field.fields[k]) : v;
    return out;
  }
  if (field.kind === 'map') return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redact(v, field.values)]));
  if (field.kind === 'variants' && Array.isArray(value)) {
    return value.map((item: Record<string, unknown>) => {
      const shape = field.variants[String(item?.type)];
      return shape ? redact(item, obj(shape)) : item;
    });
  }
  return value;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds from a number or "<n><ms|s|m|h|d>"; undefined when it is neither. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(v.trim()) : null;
  return m ? Number(m[1]) * UNIT_S[m[2]] : undefined;
}
