/**
 * Endpoints from the Keystone catalog, and the API roots built from them. Catalog URLs come
 * with or without a version: Nova's is usually .../v2.1 (older deployments .../v2.1/<project>),
 * Neutron's usually has no /v2.0.
 */
import { ProbeError } from '../../errors.js';
import type { EndpointInterface } from './credentials.js';

export interface CatalogEndpoint {
  interface: string;
  region_id?: string;
  /** The pre-Mitaka field, still sent. */
  region?: string;
  url: string;
}

export interface CatalogService {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

/** URL of the first `type` endpoint with that interface, in that region ("" = any region). */
export function findEndpoint(catalog: readonly CatalogService[], type: string, iface: EndpointInterface, region: string): string {
  for (const service of catalog) {
    if (service?.type !== type || !Array.isArray(service.endpoints)) continue;
    for (const ep of service.endpoints) {
      if (ep?.interface !== iface || typeof ep.url !== 'string') continue;
      if (region && ep.region_id !== region && ep.region !== region) continue;
      return checkUrl(ep.url, type);
    }
  }
  throw new ProbeError(`openstack: no ${type} endpoint (interface ${iface}, ${region ? `region ${region}` : 'any region'}) in the catalog`);
}

function checkUrl(url: string, type: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch { /* below */ }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) throw new ProbeError(`openstack: the ${type} endpoint is not an http(s) URL: ${JSON.stringify(url)}`);
  return url;
}

/** The compute API root: the endpoint as is when it names a version (and maybe a project), else + /v2.1. */
export function computeRoot(endpoint: string): string {
  const url = endpoint.replace(/\/+$/, '');
  return /\/v2(\.\d+)?(\/[^/]+)?$/.test(url) ? url : `${url}/v2.1`;
}

/** The network API root: always ends in /v2.0. */
export function networkRoot(endpoint: string): string {
  const url = endpoint.replace(/\/+$/, '');
  return /\/v2\.0$/.test(url) ? url : `${url}/v2.0`;
}
