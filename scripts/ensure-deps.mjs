// Installs what `npm start` and `npm test` need when it is missing, so both work from a fresh
// clone with nothing run before them:
// - npm dependencies, when node_modules is missing or was installed from another package-lock.json
//   (its hash, in node_modules/.bulwark-lock.sha256; not the file times, which a checkout or a git
//   worktree sets to the time of the checkout);
// - build/*.node from native/*.c (scripts/build-native.mjs): CRC-32C, and dup(2) for direct socket reads;
// - dist/, the compiled code bin/bulwark.js runs (tsc -p tsconfig.build.json), when it is missing or
//   older than a file of src/ or a tsconfig (`npm start` itself runs src/ under tsx);
// - with --test: kcat (Debian package), the real Kafka client the tests run against, and rsyslog
//   (Debian package), the real syslog receiver the audit syslog sink is tested against (the tests
//   start their own rsyslogd on loopback ports and a socket in a temp dir; nothing system-wide).
// (kube-apiserver and etcd are built by the tests themselves: scripts/controlplane-build.sh.)
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const marker = 'node_modules/.package-lock.json';
const lockHashFile = 'node_modules/.bulwark-lock.sha256';
const lockHash = createHash('sha256').update(readFileSync('package-lock.json')).digest('hex');
const installedHash = existsSync(lockHashFile) ? readFileSync(lockHashFile, 'utf8').trim() : undefined;
// An install from before the hash file: judged by the times once, then by the hash.
const stale = !existsSync(marker) || (installedHash === undefined ? statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs : installedHash !== lockHash);
if (stale) {
  console.error('bulwark: installing dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
if (installedHash !== lockHash) writeFileSync(lockHashFile, `${lockHash}\n`);

// The SSE4.2 CRC-32C the log uses when it can (falls back to a portable one otherwise).
execSync(`"${process.execPath}" scripts/build-native.mjs`, { stdio: 'inherit' });

// dist/ is stale when a file of src/ or a tsconfig is newer than dist/.built, a stamp written
// here only after tsc emitted, with the time the build started (a source edited while tsc runs is
// still newer next time). Not tsc's own dist/.tsbuildinfo: `tsc -p tsconfig.build.json --noEmit`
// (a type-check) rewrites it without emitting, and dist/ would pass for fresh. Without
// dist/cli/main.js tsc's incremental state is dropped, so tsc emits it all.
const stamp = 'dist/.built';
const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const p = join(dir, e.name);
    return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
  }, 0);
const inputs = Math.max(newest('src'), ...['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(f).mtimeMs));
if (!existsSync('dist/cli/main.js') || !existsSync(stamp) || statSync(stamp).mtimeMs < inputs) {
  if (!existsSync('dist/cli/main.js')) rmSync('dist/.tsbuildinfo', { force: true });
  const started = new Date();
  console.error('bulwark: building dist/ (tsc -p tsconfig.build.json)…');
  try {
    execSync(`"${process.execPath}" node_modules/typescript/bin/tsc -p tsconfig.build.json`, { stdio: 'inherit' });
    writeFileSync(stamp, `${started.toISOString()}\n`);
    utimesSync(stamp, started, started);
  } catch {
    // tsc still emits; the type errors are reported again by `npm test`'s tsc --noEmit.
    console.error('bulwark: tsc reported type errors (above); dist/ was emitted anyway and is rebuilt on the next run');
  }
}

const has = (cmd) => {
  try {
    execSync(`command -v ${cmd}`, { stdio: 'ignore', shell: '/bin/sh' });
    return true;
  } catch {
    return false;
  }
};

// Debian packages the tests run, by the command each provides.
const testPackages = [
  { command: 'kcat', pkg: 'kcat', hint: 'Debian/Ubuntu: sudo apt-get install kcat; macOS: brew install kcat' },
  { command: 'rsyslogd', pkg: 'rsyslog', hint: 'Debian/Ubuntu: sudo apt-get install rsyslog; macOS: brew install rsyslog' },
];
// rsyslogd lives in /usr/sbin, which is not on every user's PATH.
const missing = process.argv.includes('--test') ? testPackages.filter((p) => !has(p.command) && !existsSync(`/usr/sbin/${p.command}`)) : [];
if (missing.length > 0) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const pkgs = missing.map((p) => p.pkg).join(' ');
  if (root && has('apt-get')) {
    console.error(`bulwark: installing ${pkgs} (apt-get install ${pkgs})…`);
    execSync(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${pkgs}`, { stdio: 'inherit', shell: '/bin/sh' });
  } else {
    for (const p of missing) console.error(`bulwark: the tests need ${p.command}: install it (${p.hint})`);
    process.exit(1);
  }
}
