// Installs what `npm start` and `npm test` need when it is missing, so both work from a fresh
// clone with nothing run before them:
// - npm dependencies, when node_modules is missing or older than package-lock.json;
// - build/*.node from native/*.c (scripts/build-native.mjs): CRC-32C, and dup(2) for direct socket reads;
// - with --test: kcat (Debian package), the real Kafka client the tests run against.
// (kube-apiserver and etcd are built by the tests themselves: scripts/controlplane-build.sh.)
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.error('bulwark: installing dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}

// The SSE4.2 CRC-32C the log uses when it can (falls back to a portable one otherwise).
execSync(`"${process.execPath}" scripts/build-native.mjs`, { stdio: 'inherit' });

const has = (cmd) => {
  try {
    execSync(`command -v ${cmd}`, { stdio: 'ignore', shell: '/bin/sh' });
    return true;
  } catch {
    return false;
  }
};

if (process.argv.includes('--test') && !has('kcat')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && has('apt-get')) {
    console.error('bulwark: installing kcat (apt-get install kcat)…');
    execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat', { stdio: 'inherit', shell: '/bin/sh' });
  } else {
    console.error('bulwark: the tests need kcat: install it (Debian/Ubuntu: sudo apt-get install kcat; macOS: brew install kcat)');
    process.exit(1);
  }
}
