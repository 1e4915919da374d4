/**
 * An expected failure with a one-line, operator-facing reason ("ovs-ofctl not found",
 * "mtr: unparseable output: ..."). The runner turns it into UNKNOWN with that reason;
 * anything else that escapes a probe is a bug, reported the same way but never with a stack.
 */
export class ProbeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProbeError';
  }
}

/** One line, bounded: safe to put in a Nagios status line. */
export function oneLine(text: unknown, max = 200): string {
  const s = String(text instanceof Error ? text.message : text).replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}
