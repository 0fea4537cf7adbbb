// Local mode's answer to "where are the files mounted?": the files a BrokerCluster needs, found
// next to its YAML, laid out the way the operator mounts its Secrets in a pod.
//
//   <tls dir>/<listener name>/tls.crt, tls.key, ca.crt   that listener's certificate (and client CA)
//   <tls dir>/tls.crt, tls.key, ca.crt                   the cluster's certificate, for every other TLS listener
//   <policy dir>/keys/<key id>                            the encryption keys, when spec.encryption.enabled
//   <policy dir>/oauth-bearer-ca.crt                      the JWKS endpoint's CA, when spec.authentication.oauthBearer.caRef
//
// <tls dir> is `--tls-dir`, else `<policy dir>/tls`. Only listeners with tls.enabled need files;
// ca.crt only those whose clientAuth is optional or required. The files are read by the
// listeners at start and hot-reloaded when they change (src/pki/tls-context.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerCluster } from '../api/index.ts';
import { BulwarkError } from '../lib/index.ts';
import type { BrokerMounts, TlsMount } from './render.ts';

export const TLS_CERT_FILE = 'tls.crt';
export const TLS_KEY_FILE = 'tls.key';
export const TLS_CA_FILE = 'ca.crt';
/** Local mode's stand-in for spec.authentication.oauthBearer.caRef, in the policy directory. */
export const OAUTH_BEARER_CA_FILE = 'oauth-bearer-ca.crt';

/** The mounts of a BrokerCluster run from a policy directory; throws BWK_ERR_CONFIG_INVALID naming the files a TLS listener lacks. */
export function localMounts(cluster: BrokerCluster, where: { policyDir: string; tlsDir?: string }): Omit<BrokerMounts, 'dataDir'> {
  const tlsDir = where.tlsDir ?? join(where.policyDir, 'tls');
  const tls: Record<string, TlsMount> = {};
  const missing: string[] = [];
  cluster.spec.listeners.forEach((l, i) => {
    if (!l.tls?.enabled) return;
    const own = join(tlsDir, l.name);
    const dir = existsSync(join(own, TLS_CERT_FILE)) ? own : tlsDir;
    const files = { certFile: join(dir, TLS_CERT_FILE), keyFile: join(dir, TLS_KEY_FILE), caFile: join(dir, TLS_CA_FILE) };
    const needsCa = (l.tls.clientAuth ?? 'none') !== 'none';
    const absent = [files.certFile, files.keyFile, ...(needsCa ? [files.caFile] : [])].filter((f) => !existsSync(f));
    if (absent.length > 0) {
      missing.push(`spec.listeners[${i}].tls (listener ${l.name}): ${absent.join(', ')} not found; put ${TLS_CERT_FILE}, ${TLS_KEY_FILE}${needsCa ? ` and ${TLS_CA_FILE}` : ''} in ${own} or ${tlsDir}, or pass --tls-dir`);
      return;
    }
    tls[l.name] = needsCa || existsSync(files.caFile) ? files : { certFile: files.certFile, keyFile: files.keyFile };
  });
  let encryptionKeysDir: string | undefined;
  if (cluster.spec.encryption?.enabled) {
    encryptionKeysDir = join(where.policyDir, 'keys');
    if (!existsSync(encryptionKeysDir)) missing.push(`spec.encryption: the key directory ${encryptionKeysDir} is not found; put one file per key id in it (32 bytes, base64: openssl rand -base64 32 > ${join(encryptionKeysDir, cluster.spec.encryption.activeKeyId ?? 'KEY_ID')})`);
  }
  let oauthBearerCaFile: string | undefined;
  if (cluster.spec.authentication?.oauthBearer?.caRef) {
    oauthBearerCaFile = join(where.policyDir, OAUTH_BEARER_CA_FILE);
    if (!existsSync(oauthBearerCaFile)) missing.push(`spec.authentication.oauthBearer.caRef: ${oauthBearerCaFile} is not found; put the PEM CA certificates of the JWKS endpoint in it`);
  }
  if (missing.length > 0) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `BrokerCluster ${cluster.metadata.namespace}/${cluster.metadata.name}: ${missing.join('; ')}` });
  return { tls, policyDir: where.policyDir, ...(encryptionKeysDir ? { encryptionKeysDir } : {}), ...(oauthBearerCaFile ? { oauthBearerCaFile } : {}) };
}
