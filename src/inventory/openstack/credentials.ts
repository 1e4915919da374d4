/**
 * Which Keystone, as whom: the first of
 *   1. inventory.openstack.auth in the config, when its auth_url is set;
 *   2. the clouds.yaml entry named by inventory.openstack.cloud or $OS_CLOUD;
 *   3. the OS_* environment variables (an openrc file sourced in the cron job).
 * None of them with an auth URL: the source is not configured here (skipped, not an error).
 * region_name, interface and cacert/verify of the clouds.yaml entry or the environment apply
 * where the config keeps its default ("" region, internal interface, no cacert, verify on).
 */
import { ProbeError } from '../../errors.js';
import type { Config } from '../../config.js';
import { isPlainMapping, loadCloud, type Mapping } from './clouds-yaml.js';

export type OpenStackConfig = Config['inventory']['openstack'];
export type EndpointInterface = 'internal' | 'public' | 'admin';

/** Exactly one of id or name for each of user, domains and project (as Keystone takes them). */
export interface PasswordAuth {
  method: 'password';
  userId?: string;
  username?: string;
  userDomainId?: string;
  userDomainName?: string;
  password: string;
  projectId?: string;
  projectName?: string;
  projectDomainId?: string;
  projectDomainName?: string;
}

export interface AppCredentialAuth {
  method: 'application_credential';
  id: string;
  secret: string;
}

export interface Credentials {
  /** As written; keystone.ts adds /v3 when it is missing. */
  authUrl: string;
  auth: PasswordAuth | AppCredentialAuth;
  region: string;
  interface: EndpointInterface;
  cacert: string;
  insecure: boolean;
  /** Where they came from, for messages: never the secrets themselves. */
  origin: string;
}

/** The auth settings every origin is turned into before checking them (clouds.yaml's key names). */
interface RawAuth {
  auth_type?: string;
  auth_url?: string;
  username?: string;
  user_id?: string;
  password?: string;
  user_domain_name?: string;
  user_domain_id?: string;
  project_name?: string;
  project_id?: string;
  project_domain_name?: string;
  project_domain_id?: string;
  domain_name?: string;
  domain_id?: string;
  application_credential_id?: string;
  application_credential_secret?: string;
}

interface RawSettings {
  region?: string;
  interface?: string;
  cacert?: string;
  insecure?: boolean;
}

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined);

export function resolveCredentials(cfg: OpenStackConfig, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Credentials | null {
  if (nonEmpty(cfg.auth.auth_url)) return fromConfig(cfg);
  const cloud = nonEmpty(cfg.cloud) ?? nonEmpty(env.OS_CLOUD);
  if (cloud) return fromCloudsYaml(cfg, cloud, env, cwd);
  if (nonEmpty(env.OS_AUTH_URL)) return fromEnvironment(cfg, env);
  return null;
}

function fromConfig(cfg: OpenStackConfig): Credentials {
  const a = cfg.auth;
  return finish(cfg, 'the config (inventory.openstack.auth)', {
    auth_type: nonEmpty(a.application_credential_id) ? 'v3applicationcredential' : 'password',
    auth_url: a.auth_url,
    username: a.username,
    password: a.password,
    user_domain_name: a.user_domain_name,
    project_name: a.project_name,
    project_domain_name: a.project_domain_name,
    application_credential_id: a.application_credential_id,
    application_credential_secret: a.application_credential_secret,
  }, {});
}

function fromCloudsYaml(cfg: OpenStackConfig, cloud: string, env: NodeJS.ProcessEnv, cwd: string): Credentials {
  const { entry, file } = loadCloud(cloud, env, cwd);
  const origin = `${file} (cloud "${cloud}")`;
  const auth = (isPlainMapping(entry.auth) ? entry.auth : {}) as Mapping;
  const raw: RawAuth = { auth_type: nonEmpty(entry.auth_type) };
  for (const key of Object.keys(auth) as (keyof RawAuth)[]) raw[key] = nonEmpty(auth[key]);
  if (!raw.auth_url) throw new ProbeError(`openstack: ${origin}: no auth.auth_url`);
  // verify: false, or the older insecure: true; verify may also name a CA bundle.
  const verify = entry.verify;
  return finish(cfg, origin, raw, {
    region: nonEmpty(entry.region_name) ?? (Array.isArray(entry.regions) && entry.regions.length === 1 ? nonEmpty(entry.regions[0]) : undefined),
    interface: nonEmpty(entry.interface) ?? nonEmpty(entry.endpoint_type),
    cacert: nonEmpty(entry.cacert) ?? (typeof verify === 'string' ? nonEmpty(verify) : undefined),
    insecure: verify === false || entry.insecure === true,
  });
}

function fromEnvironment(cfg: OpenStackConfig, env: NodeJS.ProcessEnv): Credentials {
  const e = (name: string) => nonEmpty(env[name]);
  return finish(cfg, 'the OS_* environment', {
    auth_type: e('OS_AUTH_TYPE'),
    auth_url: e('OS_AUTH_URL'),
    username: e('OS_USERNAME'),
    user_id: e('OS_USER_ID'),
    password: e('OS_PASSWORD'),
    user_domain_name: e('OS_USER_DOMAIN_NAME'),
    user_domain_id: e('OS_USER_DOMAIN_ID'),
    project_name: e('OS_PROJECT_NAME') ?? e('OS_TENANT_NAME'),
    project_id: e('OS_PROJECT_ID') ?? e('OS_TENANT_ID'),
    project_domain_name: e('OS_PROJECT_DOMAIN_NAME'),
    project_domain_id: e('OS_PROJECT_DOMAIN_ID'),
    domain_name: e('OS_DOMAIN_NAME'),
    domain_id: e('OS_DOMAIN_ID'),
    application_credential_id: e('OS_APPLICATION_CREDENTIAL_ID'),
    application_credential_secret: e('OS_APPLICATION_CREDENTIAL_SECRET'),
  }, {
    region: e('OS_REGION_NAME'),
    interface: e('OS_INTERFACE') ?? e('OS_ENDPOINT_TYPE'),
    cacert: e('OS_CACERT'),
  });
}

/** Check what one origin gave and apply the config's settings over it. */
function finish(cfg: OpenStackConfig, origin: string, raw: RawAuth, settings: RawSettings): Credentials {
  const fail = (what: string): never => {
    throw new ProbeError(`openstack: ${origin}: ${what}`);
  };
  const authUrl = nonEmpty(raw.auth_url) ?? fail('no auth_url');
  let parsed: URL | undefined;
  try {
    parsed = new URL(authUrl);
  } catch { /* reported below */ }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) fail(`auth_url is not an http(s) URL: ${JSON.stringify(authUrl)}`);

  const type = (raw.auth_type ?? (raw.application_credential_id || raw.application_credential_secret ? 'v3applicationcredential' : 'password')).toLowerCase();
  let auth: Credentials['auth'];
  if (type === 'v3applicationcredential' || type === 'applicationcredential') {
    const missing = [!raw.application_credential_id && 'application_credential_id', !raw.application_credential_secret && 'application_credential_secret'].filter(Boolean);
    if (missing.length) fail(`application-credential auth needs ${missing.join(' and ')}`);
    auth = { method: 'application_credential', id: raw.application_credential_id!, secret: raw.application_credential_secret! };
  } else if (type === 'password' || type === 'v3password') {
    const missing = [
      !raw.username && !raw.user_id && 'username',
      !raw.password && 'password',
      !raw.project_name && !raw.project_id && 'project_name',
    ].filter(Boolean);
    if (missing.length) fail(`password auth needs ${missing.join(', ')}`);
    // openstacksdk's rule: domain_id/domain_name stand in for the user's and project's
    // domains when those are not given; Keystone's "Default" domain otherwise.
    const userDomain = domainOf(raw.user_domain_id, raw.user_domain_name, raw.domain_id, raw.domain_name);
    const projectDomain = domainOf(raw.project_domain_id, raw.project_domain_name, raw.domain_id, raw.domain_name);
    auth = {
      method: 'password',
      ...(raw.user_id ? { userId: raw.user_id } : { username: raw.username, ...(userDomain.id ? { userDomainId: userDomain.id } : { userDomainName: userDomain.name }) }),
      password: raw.password!,
      ...(raw.project_id ? { projectId: raw.project_id } : { projectName: raw.project_name, ...(projectDomain.id ? { projectDomainId: projectDomain.id } : { projectDomainName: projectDomain.name }) }),
    };
  } else {
    return fail(`auth_type "${raw.auth_type}" is not supported (password or v3applicationcredential)`);
  }

  const iface = normalizeInterface(settings.interface, fail);
  return {
    authUrl,
    auth,
    region: nonEmpty(cfg.region_name) ?? settings.region ?? '',
    interface: cfg.interface !== 'internal' ? cfg.interface : iface ?? 'internal',
    cacert: nonEmpty(cfg.cacert) ?? settings.cacert ?? '',
    insecure: cfg.insecure || settings.insecure === true,
    origin,
  };
}

function domainOf(id: string | undefined, name: string | undefined, fallbackId: string | undefined, fallbackName: string | undefined): { id?: string; name?: string } {
  if (id) return { id };
  if (name) return { name };
  if (fallbackId) return { id: fallbackId };
  return { name: fallbackName ?? 'Default' };
}

/** "internalURL" (the old spelling) and "internal" alike. */
function normalizeInterface(value: string | undefined, fail: (what: string) => never): EndpointInterface | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase().replace(/url$/, '');
  if (v === 'internal' || v === 'public' || v === 'admin') return v;
  return fail(`interface "${value}" is not one of internal, public, admin`);
}

/** Who the token is for, without any secret: for messages and the cache label. */
export function describeIdentity(c: Credentials): string {
  const a = c.auth;
  if (a.method === 'application_credential') return `application credential ${a.id}`;
  const user = a.userId ?? `${a.userDomainId ?? a.userDomainName}/${a.username}`;
  const project = a.projectId ?? `${a.projectDomainId ?? a.projectDomainName}/${a.projectName}`;
  return `user ${user}, project ${project}`;
}
