/**
 * A small XML parser for machine-generated, well-formed documents (libvirt's domain XML).
 * Namespace-aware: elements are matched by (namespace URI, local name), never by prefix, since
 * the prefix is the writer's choice (Nova writes "nova:", another tool may not).
 * Not supported, and refused rather than half-read: DOCTYPE (so no entity expansion at all).
 * Malformed input throws ProbeError "xml: <what> at line N".
 */
import { ProbeError } from './errors.js';

export interface XmlElement {
  /** Namespace URI; "" when the element is in no namespace. */
  ns: string;
  /** Local name, without prefix. */
  name: string;
  /** Attributes by name as written (unprefixed ones have no namespace); xmlns declarations excluded. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (text and CDATA directly inside it, concatenated), entities decoded. */
  text: string;
}

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const NAME_PART = '[A-Za-z_\\u00C0-\\uFFFF][\\w.\\-\\u00B7\\u00C0-\\uFFFF]*';
const NAME = new RegExp(`${NAME_PART}(?::${NAME_PART})?`, 'y');
const SPACE = /\s*/y;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };
// A run parses every domain's XML (~1 MB at 500 domains), mostly in a fresh, not yet optimised
// process: the hot paths compare character codes, and skip what most text and elements lack.
const LT = 60;
const GT = 62;
const SLASH = 47;

/** The first child element with this namespace and local name. */
export function childElement(el: XmlElement | undefined, ns: string, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.ns === ns && c.name === name);
}

/** Every child element with this namespace and local name, in document order. */
export function childElements(el: XmlElement | undefined, ns: string, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.ns === ns && c.name === name) : [];
}

export function parseXml(text: string): XmlElement {
  let pos = 0;
  const fail = (what: string, at = pos): never => {
    throw new ProbeError(`xml: ${what} at line ${text.slice(0, at).split('\n').length}`);
  };
  const skipSpace = () => {
    SPACE.lastIndex = pos;
    SPACE.exec(text);
    pos = SPACE.lastIndex;
  };
  const name = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(text) ?? fail('expected a name');
    pos = NAME.lastIndex;
    return m[0];
  };
  const expect = (s: string) => {
    if (!text.startsWith(s, pos)) fail(`expected "${s}"`);
    pos += s.length;
  };
  /** Move past `end`; returns what was skipped. */
  const until = (end: string, what: string): string => {
    const i = text.indexOf(end, pos);
    if (i < 0) fail(`unterminated ${what}`);
    const skipped = text.slice(pos, i);
    pos = i + end.length;
    return skipped;
  };
  const decode = (raw: string, start: number): string =>
    !raw.includes('&') ? raw : raw.replace(/&([^;&<\s]*);?/g, (whole, ref: string, off: number) => {
      const at = start + off;
      if (!whole.endsWith(';')) return fail('"&" not starting an entity reference', at);
      if (Object.hasOwn(PREDEFINED, ref)) return PREDEFINED[ref];
      const num = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
      const code = num ? parseInt(num[1] ?? num[2], num[1] ? 16 : 10) : NaN;
      if (!(code > 0 && code <= 0x10ffff)) fail(`unknown entity "&${ref};"`, at);
      return String.fromCodePoint(code);
    });
  /** Comments, processing instructions (incl. <?xml?>) and whitespace, between elements. */
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (text.startsWith('<!--', pos)) until('-->', 'comment');
      else if (text.startsWith('<?', pos)) until('?>', 'processing instruction');
      else if (text.startsWith('<!DOCTYPE', pos)) fail('DOCTYPE not supported');
      else return;
    }
  };

  const element = (scope: Record<string, string>): XmlElement => {
    const start = pos;
    expect('<');
    const qname = name();
    const rawAttrs: [string, string, number][] = [];
    for (;;) {
      const before = pos;
      skipSpace();
      const c = text.charCodeAt(pos);
      if (c === GT || (c === SLASH && text.charCodeAt(pos + 1) === GT)) break;
      if (pos === before) fail(`expected whitespace, ">" or "/>" in <${qname}>`);
      const attrAt = pos;
      const attr = name();
      skipSpace();
      expect('=');
      skipSpace();
      const quote = text[pos];
      if (quote !== '"' && quote !== "'") fail(`attribute ${attr} value not quoted`);
      pos++;
      const valueAt = pos;
      const value = until(quote, `attribute ${attr} value`);
      if (value.includes('<')) fail(`"<" in attribute ${attr} value`, valueAt);
      if (rawAttrs.some(([a]) => a === attr)) fail(`duplicate attribute ${attr}`, attrAt);
      rawAttrs.push([attr, decode(value, valueAt), attrAt]);
    }
    // Namespace declarations apply to the element that carries them, so read them first.
    // (A new scope only where something is declared: most elements declare nothing.)
    const declares = rawAttrs.some(([attr]) => attr === 'xmlns' || attr.startsWith('xmlns:'));
    const ns: Record<string, string> = declares ? Object.create(scope) : scope;
    const attrs: Record<string, string> = {};
    for (const [attr, value] of rawAttrs) {
      if (attr === 'xmlns') ns[''] = value;
      else if (attr.startsWith('xmlns:')) ns[attr.slice(6)] = value;
      else attrs[attr] = value;
    }
    const [prefix, local] = qname.includes(':') ? qname.split(':') : ['', qname];
    const uri = ns[prefix];
    if (uri === undefined) fail(`undeclared namespace prefix "${prefix}"`, start);
    for (const [attr, , at] of rawAttrs) {
      const p = attr.includes(':') ? attr.split(':')[0] : '';
      if (p && p !== 'xmlns' && ns[p] === undefined) fail(`undeclared namespace prefix "${p}"`, at);
    }
    const el: XmlElement = { ns: uri, name: local, attrs, children: [], text: '' };
    if (text.charCodeAt(pos) === SLASH) {
      pos += 2;
      return el;
    }
    pos++;
    for (;;) {
      if (pos >= text.length) fail(`unclosed <${qname}>`, start);
      if (text.charCodeAt(pos) !== LT) {
        const at = pos;
        const end = text.indexOf('<', pos);
        pos = end < 0 ? text.length : end;
        el.text += decode(text.slice(at, pos), at);
      } else if (text.charCodeAt(pos + 1) === SLASH) {
        pos += 2;
        const closeAt = pos;
        const closing = name();
        if (closing !== qname) fail(`</${closing}> closes <${qname}>`, closeAt);
        skipSpace();
        expect('>');
        return el;
      } else if (text.startsWith('<!--', pos)) {
        until('-->', 'comment');
      } else if (text.startsWith('<![CDATA[', pos)) {
        pos += '<![CDATA['.length;
        el.text += until(']]>', 'CDATA section');
      } else if (text.startsWith('<?', pos)) {
        until('?>', 'processing instruction');
      } else {
        el.children.push(element(ns));
      }
    }
  };

  if (text.charCodeAt(0) === 0xfeff) pos = 1; // byte order mark
  skipMisc();
  if (!text.startsWith('<', pos)) fail(pos >= text.length ? 'no root element' : 'text before the root element');
  // A prototype-less scope, so a prefix such as "constructor" is not found on Object.prototype.
  const root = element(Object.assign(Object.create(null), { '': '', xml: XML_NS }));
  skipMisc();
  if (pos < text.length) fail('content after the root element');
  return root;
}
