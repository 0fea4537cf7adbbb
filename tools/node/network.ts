// The node's network on this machine: the bridge (pods' /24, also the node IP and the API
// server's address) and "client hosts", network namespaces with a veth into the bridge, for tests
// that play a client machine. No default route anywhere, no masquerade, ip_forward untouched:
// nothing here can send a packet off this machine.
//
// The one Service address that routes is the `kubernetes` Service's (what kube-proxy would do for
// it): a DNAT rule sends what the bridge's hosts send to it to the API server on the gateway, so
// pods use their in-cluster configuration as in any cluster (routeKubernetesService).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KUBERNETES_SERVICE_IP, runCommand, type KubectlResult } from '../controlplane/launcher.ts';
import { CLIENT_HOST_RANGE, type BridgeSpec } from './config.ts';
import { clientNetnsPrefix } from './cleanup.ts';

async function ip(args: string[]): Promise<void> {
  const r = await runCommand('ip', args, { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

export async function createBridge(b: BridgeSpec): Promise<void> {
  await ip(['link', 'add', b.name, 'type', 'bridge']);
  await ip(['addr', 'add', `${b.gatewayIp}/24`, 'dev', b.name]);
  await ip(['link', 'set', b.name, 'up']);
}

/** The nftables table that holds the bridge's DNAT rule (cleanup.ts deletes it). */
export function natTableName(bridge: string): string {
  return `bulwark_${bridge}`;
}

/** Sends what pods and client hosts on the bridge send to the `kubernetes` Service (10.0.0.1:443) to the API server at `apiPort` on the gateway. */
export async function routeKubernetesService(b: BridgeSpec, apiPort: number): Promise<void> {
  const table = natTableName(b.name);
  const script = [
    `add table ip ${table}`,
    `add chain ip ${table} prerouting { type nat hook prerouting priority dstnat; }`,
    `add rule ip ${table} prerouting iifname "${b.name}" ip daddr ${KUBERNETES_SERVICE_IP} tcp dport 443 dnat to ${b.gatewayIp}:${apiPort}`,
  ].join('\n');
  const r = await runCommand('/usr/sbin/nft', ['-f', '-'], { input: script, timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`nft: routing the kubernetes Service to the API server failed (exit ${r.code}): ${r.stderr.trim()}`);
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

/** A client machine on the bridge: its own netns, address and /etc/hosts. */
export interface ClientHost {
  /** The netns name (`ip netns exec <name> ...`). */
  name: string;
  /** Its address on the bridge. */
  ip: string;
  /** Replaces its /etc/hosts with localhost plus these names. */
  setHosts(entries: Record<string, string>): Promise<void>;
  /** Runs a command inside it (`ip netns exec`), with its /etc/hosts. */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<KubectlResult>;
  remove(): Promise<void>;
}

const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const IPV4_RE = /^(\d{1,3}\.){3}\d{1,3}$/;

export function hostsFile(entries: Record<string, string>): string {
  const lines = ['127.0.0.1 localhost', '::1 localhost'];
  for (const [name, addr] of Object.entries(entries)) {
    if (!HOSTNAME_RE.test(name)) throw new Error(`setHosts: ${JSON.stringify(name)} is not a host name`);
    if (!IPV4_RE.test(addr)) throw new Error(`setHosts: ${JSON.stringify(name)}: ${JSON.stringify(addr)} is not an IPv4 address`);
    lines.push(`${addr} ${name}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Creates a client host in the first free slot (.251–.254 of the bridge's /24). */
export async function createClientHost(b: BridgeSpec): Promise<ClientHost> {
  const existing = await runCommand('ip', ['netns', 'list']);
  const taken = new Set(existing.stdout.split('\n').map((l) => l.split(' ')[0]));
  let slot = -1;
  for (let n = CLIENT_HOST_RANGE.start; n <= CLIENT_HOST_RANGE.end; n++) {
    if (!taken.has(`${clientNetnsPrefix(b.name)}${n}`)) {
      slot = n;
      break;
    }
  }
  if (slot < 0) throw new Error(`clientHost: all ${CLIENT_HOST_RANGE.end - CLIENT_HOST_RANGE.start + 1} client hosts on ${b.name} are in use`);
  const name = `${clientNetnsPrefix(b.name)}${slot}`;
  const hostVeth = `${b.name}c${slot}`;
  const addr = `${b.prefix}${slot}`;
  const etcDir = path.join('/etc/netns', name);
  fs.mkdirSync(etcDir, { recursive: true });
  fs.writeFileSync(path.join(etcDir, 'hosts'), hostsFile({}));
  try {
    await ip(['netns', 'add', name]);
    await ip(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
    await ip(['link', 'set', hostVeth, 'master', b.name, 'up']);
    await ip(['-n', name, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    await ip(['-n', name, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await removeClientHost(name, hostVeth);
    throw err;
  }
  let removed = false;
  return {
    name,
    ip: addr,
    async setHosts(entries) {
      fs.writeFileSync(path.join(etcDir, 'hosts'), hostsFile(entries));
    },
    run(cmd, args, o = {}) {
      if (removed) throw new Error(`client host ${name} was removed`);
      return runCommand('ip', ['netns', 'exec', name, cmd, ...args], { input: o.input, timeoutMs: o.timeoutMs ?? 60_000 });
    },
    async remove() {
      removed = true;
      await removeClientHost(name, hostVeth);
    },
  };
}

async function removeClientHost(name: string, hostVeth: string): Promise<void> {
  await runCommand('ip', ['netns', 'del', name]).catch(() => undefined);
  await runCommand('ip', ['link', 'del', hostVeth]).catch(() => undefined);
  fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
}
