/**
 * Paginated lists (Nova's servers_links, Neutron's ports_links): one request per page, never
 * one per item.
 */
import { ProbeError } from '../../errors.js';
import type { Service } from './http.js';

export interface PageWalk {
  service: Service;
  first: URL;
  /** "servers" / "ports": the list in each page. */
  itemsKey: string;
  /** "servers_links" / "ports_links". */
  linksKey: string;
  get: (url: string) => Promise<unknown>;
  maxPages?: number;
}

export async function collectPages(walk: PageWalk): Promise<{ items: unknown[]; pages: number }> {
  const fail = (what: string): never => {
    throw new ProbeError(`openstack: ${walk.service}: ${what}`);
  };
  const maxPages = walk.maxPages ?? 1000;
  const items: unknown[] = [];
  const seen = new Set<string>();
  let url: URL | undefined = walk.first;
  let pages = 0;
  while (url) {
    if (seen.has(url.search)) fail('pagination does not advance (the same next link twice)');
    if (++pages > maxPages) fail(`more than ${maxPages} pages`);
    seen.add(url.search);
    const body = (await walk.get(url.toString())) as Record<string, unknown> | null;
    const list = body && typeof body === 'object' ? body[walk.itemsKey] : undefined;
    if (!Array.isArray(list)) return fail(`unexpected answer (no "${walk.itemsKey}" list)`);
    items.push(...list);
    url = list.length > 0 ? nextPage(url, body![walk.linksKey]) : undefined;
  }
  return { items, pages };
}

/**
 * The URL of the next page, or undefined. Only the query of the rel=next link is kept, on the
 * URL already in use: Nova and Neutron build links from their own idea of their public URL,
 * often another host, scheme or port than the endpoint chosen from the catalog (the internal
 * one), and the token must not travel there.
 */
export function nextPage(current: URL, links: unknown): URL | undefined {
  if (!Array.isArray(links)) return undefined;
  const next = links.find((l) => l && typeof l === 'object' && l.rel === 'next' && typeof l.href === 'string') as { href: string } | undefined;
  if (!next) return undefined;
  let href: URL;
  try {
    href = new URL(next.href, current);
  } catch {
    return undefined;
  }
  const url = new URL(current);
  url.search = href.search;
  return url;
}
