// Local base images of the same layout as the Dockerfile's default bases, for builds where no
// container registry is reachable (this machine, CI). They are made from Debian's packages and
// this machine's Node distribution, never pulled:
//
//   bulwark.local/base/node:20-bookworm            as docker.io/library/node:20-bookworm: Debian
//     bookworm (debootstrap --variant=minbase, the C toolchain, make, python3, CA certificates) with
//     Node in /usr/local: bin/node, bin/npm and bin/npx linking into lib/node_modules/npm,
//     include/node. One uncompressed layer; PATH and Cmd ["node"] as the official image.
//   bulwark.local/base/nodejs20-debian12:nonroot   as gcr.io/distroless/nodejs20-debian12:nonroot:
//     /nodejs/bin/node with the glibc, libstdc++ and libgcc libraries node and typical native
//     addons load (ldd of node, plus librt, libdl, libpthread, libm), /etc/passwd and /etc/group
//     naming nonroot 65532, /tmp 1777, Mozilla's CA certificates (Debian's ca-certificates set,
//     not this machine's local additions) at /etc/ssl/certs/ca-certificates.crt; no shell.
//
// Cache, under ${BULWARK_CACHE:-~/.cache/bulwark}/image/bases/:
//   build-<key>/       an OCI image layout (index.json, blobs/): the build base. A directory, not a
//                      tar of it: the layer is ~400 MB and would otherwise be written twice.
//   runtime-<key>.tar  an OCI archive (tools/image/oci-archive.ts): the runtime base.
// <key> hashes every input (package list, Node version, library contents, CA set), so a changed
// input makes a new base, and an unchanged one is not made again.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeOciArchive, type ImageFile } from './oci-archive.ts';
import { hostBinaryWithLibraries, IMAGE_UID } from './rootfs.ts';

export const LOCAL_BUILD_BASE = 'bulwark.local/base/node:20-bookworm';
export const LOCAL_RUNTIME_BASE = 'bulwark.local/base/nodejs20-debian12:nonroot';
/** The distroless user: numeric, non-root; the same uid as every image of the project. */
export const NONROOT_UID = IMAGE_UID;

/** Debian suite, mirror and packages of the build base: what the Dockerfile's build stages run. */
export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = process.env.BULWARK_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
export const BUILD_BASE_PACKAGES = ['gcc', 'g++', 'make', 'python3', 'ca-certificates'] as const;
/** Libraries native addons load that node itself may not (the @node-rs prebuilds need librt). */
const EXTRA_LIBRARIES = ['librt.so.1', 'libdl.so.2', 'libpthread.so.0', 'libm.so.6'];
const LIB_DIR = '/lib/x86_64-linux-gnu';
/** Mozilla's CA set as Debian ships it (ca-certificates). */
const MOZILLA_CAS = '/usr/share/ca-certificates/mozilla';
/** Bumped when the way a base is made changes, so old cached bases are not reused. */
const FORMAT = 2;

export interface LocalBaseImage {
  /** The name builds refer to it by, such as bulwark.local/base/node:20-bookworm. */
  name: string;
  /**
   * A containers-image transport reference to load it from, relative to `dir`: oci:<layout>:<ref>
   * or oci-archive:<file>. Relative, because buildah names an image pulled from an OCI layout
   * after its path, and a path with a dot-directory (~/.cache) is no valid image name.
   */
  source: string;
  /** The directory `source` is relative to (${cacheDir}/bases). */
  dir: string;
  /** sha256:… of the image config: the image ID a container store gives it. */
  configDigest: string;
  /** True when it was already in the cache. */
  cached: boolean;
}

export interface BaseImageOptions {
  /** ${BULWARK_CACHE}/image. */
  cacheDir: string;
  log: (line: string) => void;
  /** The Node binary; default the one running this. */
  nodeBinary?: string;
}

interface BaseMeta {
  name: string;
  configDigest: string;
}

/** The build base, made with debootstrap on first use (a minute or two; needs root and debootstrap). */
export async function localBuildBase(opts: BaseImageOptions): Promise<LocalBaseImage> {
  const nodeBinary = realpathSync(opts.nodeBinary ?? process.execPath);
  const dist = nodeDistribution(nodeBinary);
  const npmVersion = (JSON.parse(readFileSync(join(dist.npm, 'package.json'), 'utf8')) as { version: string }).version;
  const key = createHash('sha256')
    .update(JSON.stringify({ FORMAT, suite: DEBIAN_SUITE, mirror: DEBIAN_MIRROR, packages: BUILD_BASE_PACKAGES, node: process.version, nodeBinary, npmVersion }))
    .digest('hex')
    .slice(0, 16);
  const bases = join(opts.cacheDir, 'bases');
  const dir = join(bases, `build-${key}`);
  const meta = join(dir, 'base.json');
  const ref = 'build';
  const source = `oci:build-${key}/layout:${ref}`;
  if (existsSync(meta)) return { ...(JSON.parse(readFileSync(meta, 'utf8')) as BaseMeta), source, dir: bases, cached: true };

  const staging = `${dir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  const rootfs = join(staging, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  const started = Date.now();
  opts.log(`making ${LOCAL_BUILD_BASE}: debootstrap --variant=minbase ${DEBIAN_SUITE} (+ ${BUILD_BASE_PACKAGES.join(', ')}) from ${DEBIAN_MIRROR}…`);
  await run('debootstrap', ['--variant=minbase', `--include=${BUILD_BASE_PACKAGES.join(',')}`, DEBIAN_SUITE, rootfs, DEBIAN_MIRROR]);

  // Node as the official image lays it out.
  opts.log(`adding node ${process.version} and npm ${npmVersion} under /usr/local`);
  const local = join(rootfs, 'usr', 'local');
  mkdirSync(join(local, 'bin'), { recursive: true });
  mkdirSync(join(local, 'lib', 'node_modules'), { recursive: true });
  mkdirSync(join(local, 'include'), { recursive: true });
  cpSync(nodeBinary, join(local, 'bin', 'node'));
  cpSync(dist.npm, join(local, 'lib', 'node_modules', 'npm'), { recursive: true, verbatimSymlinks: true });
  cpSync(dist.include, join(local, 'include', 'node'), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));

  opts.log('writing the layer (tar)…');
  const layout = join(staging, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layerTar = join(staging, 'layer.tar');
  // What a container gets from its runtime (devices, resolv.conf) or does not need (the
  // downloaded .debs, package lists, manuals, translations) stays out.
  const excluded = ['./dev/*', './proc/*', './sys/*', './tmp/*', './etc/resolv.conf', './etc/hostname', './var/cache/apt/archives/*.deb', './var/lib/apt/lists/*_*', './usr/share/man/*', './usr/share/info/*', './usr/share/locale/*', './debootstrap'];
  await run('tar', ['--create', `--file=${layerTar}`, `--directory=${rootfs}`, '--numeric-owner', '--sort=name', ...excluded.map((e) => `--exclude=${e}`), '.']);
  rmSync(rootfs, { recursive: true, force: true });
  const layerDigest = await sha256File(layerTar);
  const layerSize = statSync(layerTar).size;
  renameSync(layerTar, join(blobs, layerDigest.slice('sha256:'.length)));

  const addBlob = (value: unknown) => {
    const data = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    writeFileSync(join(blobs, digest.slice('sha256:'.length)), data);
    return { digest, size: data.length };
  };
  const config = addBlob({
    architecture: 'amd64',
    os: 'linux',
    created: new Date().toISOString(),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `NODE_VERSION=${process.versions.node}`], Cmd: ['node'] },
    rootfs: { type: 'layers', diff_ids: [layerDigest] },
    // buildah checks a base's history against its layers.
    history: [{ created: new Date().toISOString(), created_by: `debootstrap --variant=minbase --include=${BUILD_BASE_PACKAGES.join(',')} ${DEBIAN_SUITE}; node ${process.version} in /usr/local` }],
  });
  const manifest = addBlob({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layerSize }],
  });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture: 'amd64', os: 'linux' }, annotations: { 'org.opencontainers.image.ref.name': ref } }],
    }),
  );
  const base: BaseMeta = { name: LOCAL_BUILD_BASE, configDigest: config.digest };
  writeFileSync(join(staging, 'base.json'), JSON.stringify(base, null, 2) + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  opts.log(`made ${LOCAL_BUILD_BASE} (${(layerSize / 1e6).toFixed(0)} MB) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  pruneBases(opts.cacheDir, 'build-', `build-${key}`);
  return { ...base, source, dir: bases, cached: false };
}

/** The runtime base, from this machine's node and libraries (seconds). */
export async function localRuntimeBase(opts: BaseImageOptions): Promise<LocalBaseImage> {
  const nodeBinary = realpathSync(opts.nodeBinary ?? process.execPath);
  const files = runtimeBaseFiles(nodeBinary);
  const key = createHash('sha256').update(JSON.stringify({ FORMAT, node: process.version }));
  for (const f of files) {
    key.update(`${f.path}\0${f.type}\0${f.mode}\0${f.uid ?? 0}\0${f.linkTarget ?? ''}\0`);
    if (f.type === 'file') key.update(f.data ?? readFileSync(f.source!));
  }
  const tag = key.digest('hex').slice(0, 16);
  const bases = join(opts.cacheDir, 'bases');
  const archive = join(bases, `runtime-${tag}.tar`);
  const meta = `${archive}.json`;
  const source = `oci-archive:runtime-${tag}.tar`;
  if (existsSync(archive) && existsSync(meta)) return { ...(JSON.parse(readFileSync(meta, 'utf8')) as BaseMeta), source, dir: bases, cached: true };

  opts.log(`making ${LOCAL_RUNTIME_BASE} from node ${process.version} and this machine's libraries…`);
  const tmp = `${archive}.${process.pid}.tmp`;
  const written = await writeOciArchive({
    name: LOCAL_RUNTIME_BASE,
    out: tmp,
    config: {
      User: String(NONROOT_UID),
      WorkingDir: '/home/nonroot',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'],
      Entrypoint: ['/nodejs/bin/node'],
    },
    layers: [{ files }],
    history: [`node ${process.version} in /nodejs, its libraries, users, CA certificates`],
  });
  renameSync(tmp, archive);
  const base: BaseMeta = { name: LOCAL_RUNTIME_BASE, configDigest: await configDigestOf(written.digest, archive) };
  writeFileSync(meta, JSON.stringify(base, null, 2) + '\n');
  pruneBases(opts.cacheDir, 'runtime-', `runtime-${tag}.tar`);
  return { ...base, source, dir: bases, cached: false };
}

/** The runtime base's files: distroless's layout, with no shell and no package manager. */
export function runtimeBaseFiles(nodeBinary: string): ImageFile[] {
  const text = (path: string, content: string): ImageFile => ({ path, type: 'file', mode: 0o644, data: Buffer.from(content) });
  const libraries = EXTRA_LIBRARIES.map((l) => join(LIB_DIR, l)).filter((p) => existsSync(p));
  const cas = existsSync(MOZILLA_CAS) ? readdirSync(MOZILLA_CAS).filter((f) => f.endsWith('.crt')).sort() : [];
  if (cas.length === 0) throw new Error(`runtime base: no CA certificates in ${MOZILLA_CAS} (apt-get install ca-certificates)`);
  const bundle = cas.map((f) => readFileSync(join(MOZILLA_CAS, f), 'utf8').trimEnd() + '\n').join('');
  return [
    text('/etc/passwd', `root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/home/nonroot:/sbin/nologin\n`),
    text('/etc/group', `root:x:0:\nnobody:x:65534:\nnonroot:x:${NONROOT_UID}:\n`),
    text('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'),
    text('/etc/ssl/certs/ca-certificates.crt', bundle),
    { path: '/tmp', type: 'dir', mode: 0o1777 },
    { path: '/root', type: 'dir', mode: 0o700 },
    { path: '/home/nonroot', type: 'dir', mode: 0o700, uid: NONROOT_UID, gid: NONROOT_UID },
    ...hostBinaryWithLibraries(nodeBinary, '/nodejs/bin/node'),
    ...libraries.flatMap((lib) => hostBinaryWithLibraries(lib)),
  ];
}

/** This machine's Node distribution: npm's package directory and the headers. */
function nodeDistribution(nodeBinary: string): { npm: string; include: string } {
  const prefix = dirname(dirname(nodeBinary));
  const npm = [join(prefix, 'lib', 'node_modules', 'npm'), '/usr/lib/node_modules/npm', '/usr/share/nodejs/npm'].find((d) => existsSync(join(d, 'bin', 'npm-cli.js')));
  const include = [join(prefix, 'include', 'node'), '/usr/include/node'].find((d) => existsSync(join(d, 'node_api.h')));
  if (!npm || !include) throw new Error(`build base: the Node distribution of ${nodeBinary} lacks ${npm ? 'its headers (include/node)' : 'npm (lib/node_modules/npm)'}`);
  return { npm, include };
}

async function configDigestOf(manifestDigest: string, archive: string): Promise<string> {
  const blob = await tarMember(archive, `blobs/sha256/${manifestDigest.slice('sha256:'.length)}`);
  return (JSON.parse(blob) as { config: { digest: string } }).config.digest;
}

function tarMember(archive: string, member: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-xOf', archive, member], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`tar -xOf ${archive} ${member}: ${err.trim()}`))));
  });
}

/** Removes the other cached bases of one kind (a base is a few hundred MB; the current one is all a build uses). */
function pruneBases(cacheDir: string, prefix: string, keep: string): void {
  const bases = join(cacheDir, 'bases');
  for (const f of readdirSync(bases)) {
    if (!f.startsWith(prefix) || f === keep || f === `${keep}.json` || f.includes('.tmp')) continue;
    rmSync(join(bases, f), { recursive: true, force: true });
  }
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(`sha256:${h.digest('hex')}`));
  });
}

/** Runs a command with its output on stderr (progress of long work); rejects on a non-zero exit. */
export function run(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 2, 2] });
    child.on('error', (err) => reject(new Error(`${command}: ${err.message}`)));
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.slice(0, 3).join(' ')}… failed (${signal ?? `exit ${code}`})`))));
  });
}
