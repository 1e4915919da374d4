import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childElement, childElements, parseXml } from '../../src/xml.js';

const NOVA = 'http://openstack.org/xmlns/libvirt/nova/1.1';

test('elements, both quote styles, self-closing tags, text', () => {
  const root = parseXml(`<domain type='kvm' id="7"><name>instance-00000001</name><devices><disk/><disk type="file"/></devices></domain>`);
  assert.equal(root.name, 'domain');
  assert.equal(root.ns, '');
  assert.deepEqual(root.attrs, { type: 'kvm', id: '7' });
  assert.equal(childElement(root, '', 'name')?.text, 'instance-00000001');
  assert.equal(childElements(childElement(root, '', 'devices'), '', 'disk').length, 2);
  assert.equal(childElement(root, '', 'nope'), undefined);
  assert.deepEqual(childElements(undefined, '', 'x'), []);
});

test('declaration, comments, processing instructions, CDATA, entities, character references', () => {
  const root = parseXml(`\uFEFF<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<a x="&lt;&amp;&gt;&quot;&apos;" y='&#65;&#x42;'>one <!-- skip --><![CDATA[<two & "three">]]> &#x1F600;<?pi data?></a>
<!-- trailing comment -->
`);
  assert.equal(root.attrs.x, `<&>"'`);
  assert.equal(root.attrs.y, 'AB');
  assert.equal(root.text, 'one <two & "three"> \u{1F600}');
});

test('namespaces: matched by URI, whatever the prefix', () => {
  for (const prefix of ['nova', 'os', 'n1']) {
    const root = parseXml(`<domain><metadata><${prefix}:instance xmlns:${prefix}="${NOVA}"><${prefix}:name>vm</${prefix}:name></${prefix}:instance></metadata></domain>`);
    const inst = childElement(childElement(root, '', 'metadata'), NOVA, 'instance');
    assert.ok(inst, prefix);
    assert.equal(childElement(inst, NOVA, 'name')?.text, 'vm');
    assert.equal(childElement(inst, '', 'name'), undefined, 'an unprefixed name is not the nova one');
  }
});

test('namespaces: default namespace, scoping, redeclaration, xmlns attributes kept out of attrs', () => {
  const root = parseXml(`<a xmlns="urn:one" xmlns:p="urn:p"><b k="v"/><p:c><d/></p:c><e xmlns="urn:two"><f/></e><p:g xmlns:p="urn:other"/><h xmlns=""/></a>`);
  assert.equal(root.ns, 'urn:one');
  assert.deepEqual(root.attrs, {});
  const [b, c, e, g, h] = root.children;
  assert.equal(b.ns, 'urn:one');
  assert.deepEqual(b.attrs, { k: 'v' });
  assert.equal(c.ns, 'urn:p');
  assert.equal(c.children[0].ns, 'urn:one', 'the default namespace is inherited');
  assert.equal(e.children[0].ns, 'urn:two');
  assert.equal(g.ns, 'urn:other');
  assert.equal(h.ns, '', 'xmlns="" takes the default namespace away');
  assert.equal(root.children.length, 5);
});

test('malformed input: ProbeError naming what and the line', () => {
  const bad: [string, RegExp][] = [
    ['', /^xml: no root element at line 1$/],
    ['<a>\n<b>\n</a>', /^xml: <\/a> closes <b> at line 3$/],
    ['<a>\n  <b>', /^xml: unclosed <b> at line 2$/],
    ['<a x=1/>', /^xml: attribute x value not quoted at line 1$/],
    ['<a x="1" x="2"/>', /^xml: duplicate attribute x at line 1$/],
    ['<a x="1"y="2"/>', /^xml: expected whitespace, ">" or "\/>" in <a> at line 1$/],
    ['<a>\n\nfish &chips;</a>', /^xml: unknown entity "&chips;" at line 3$/],
    ['<a>fish & chips</a>', /^xml: "&" not starting an entity reference at line 1$/],
    ['<a>&constructor;</a>', /^xml: unknown entity "&constructor;" at line 1$/],
    ['<a>&#0;</a>', /^xml: unknown entity "&#0;" at line 1$/],
    ['<a x="<"/>', /^xml: "<" in attribute x value at line 1$/],
    ['<a/><b/>', /^xml: content after the root element at line 1$/],
    ['junk<a/>', /^xml: text before the root element at line 1$/],
    ['<a>\n<nova:name>x</nova:name></a>', /^xml: undeclared namespace prefix "nova" at line 2$/],
    ['<a p:x="1"/>', /^xml: undeclared namespace prefix "p" at line 1$/],
    ['<!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>', /^xml: DOCTYPE not supported at line 1$/],
    ['<a><!-- never closed </a>', /^xml: unterminated comment at line 1$/],
    ['<a><![CDATA[ open </a>', /^xml: unterminated CDATA section at line 1$/],
    ['<a><constructor:x/></a>', /^xml: undeclared namespace prefix "constructor" at line 1$/],
    ['Segmentation fault', /^xml: text before the root element at line 1$/],
  ];
  for (const [input, want] of bad) {
    assert.throws(() => parseXml(input), (err: Error) => err.name === 'ProbeError' && want.test(err.message), JSON.stringify(input));
  }
});
