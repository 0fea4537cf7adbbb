// The test node's configuration builders (tools/node/config.ts) and the client host's hosts file:
// pure functions, checked here without starting anything. e2e/node.test.ts runs the real node.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bridgeSpec, cniConflist, containerdConfig, kubeletConfig, nodeLayout } from '../tools/node/config.ts';
import { hostsFile } from '../tools/node/network.ts';

const layout = nodeLayout('/tmp/bulwark-node-bwk0', '/cache/node-bin', '/tmp/bulwark-node-bwk0/cp/pki/ca.crt');

describe('bridgeSpec', () => {
  it('derives the gateway and prefix of a /24', () => {
    assert.deepEqual(bridgeSpec(), { name: 'bwk0', cidr: '10.244.77.0/24', gatewayIp: '10.244.77.1', prefix: '10.244.77.' });
    assert.equal(bridgeSpec('bwk1', '10.244.78.0/24').gatewayIp, '10.244.78.1');
  });

  it('names the field it refuses', () => {
    assert.throws(() => bridgeSpec('eth0-with-a-long-name'), /^Error: bridge\.name: /);
    assert.throws(() => bridgeSpec('bwk0', '10.244.77.0/16'), /^Error: bridge\.cidr: "10\.244\.77\.0\/16" must be an IPv4 \/24/);
    assert.throws(() => bridgeSpec('bwk0', '10.244.300.0/24'), /^Error: bridge\.cidr: /);
  });
});

describe('node configuration', () => {
  it('CNI: no gateway, no masquerade, no default route (one host route: the kubernetes Service), pods in .10-.250', () => {
    const conf = JSON.parse(cniConflist(layout, bridgeSpec())) as { plugins: Array<Record<string, unknown>> };
    const bridge = conf.plugins[0]!;
    assert.equal(bridge.type, 'bridge');
    assert.equal(bridge.bridge, 'bwk0');
    assert.equal(bridge.isGateway, false);
    assert.equal(bridge.ipMasq, false);
    const ipam = bridge.ipam as { dataDir: string; routes?: unknown; ranges: Array<Array<Record<string, string>>> };
    assert.deepEqual(ipam.routes, [{ dst: '10.0.0.1/32', gw: '10.244.77.1' }]);
    assert.equal(ipam.dataDir, '/tmp/bulwark-node-bwk0/cni/ipam');
    assert.deepEqual(ipam.ranges[0]![0], { subnet: '10.244.77.0/24', rangeStart: '10.244.77.10', rangeEnd: '10.244.77.250', gateway: '10.244.77.1' });
  });

  it('containerd: runc through runc-wrap, cgroupfs, CNI and netns under the node dir', () => {
    const toml = containerdConfig(layout);
    assert.match(toml, /BinaryName = "\/cache\/node-bin\/runc-wrap"/);
    assert.match(toml, /SystemdCgroup = false/);
    assert.match(toml, /netns_mounts_under_state_dir = true/);
    assert.match(toml, /bin_dirs = \["\/cache\/node-bin\/cni"\]/);
    assert.match(toml, /sandbox = "registry\.k8s\.io\/pause:3\.10\.2"/);
    for (const line of toml.split('\n').filter((l) => /(root|state|address|path|conf_dir) = "\//.test(l))) {
      assert.match(line, /"\/tmp\/bulwark-node-bwk0\//, `${line.trim()} stays in the node dir`);
    }
  });

  it('kubelet: cgroup v1 allowed, cgroupfs, no anonymous auth, webhook authz, on the gateway IP', () => {
    const yaml = kubeletConfig(layout, bridgeSpec(), { port: 41000, healthzPort: 41001 });
    for (const line of [
      'failCgroupV1: false',
      'cgroupDriver: cgroupfs',
      'address: 10.244.77.1',
      'port: 41000',
      'healthzBindAddress: 127.0.0.1',
      'healthzPort: 41001',
      'readOnlyPort: 0',
      '  anonymous: {enabled: false}',
      'authorization: {mode: Webhook}',
      '  x509: {clientCAFile: /tmp/bulwark-node-bwk0/cp/pki/ca.crt}',
    ]) {
      assert.ok(yaml.split('\n').includes(line), `kubelet.yaml has "${line}"`);
    }
  });
});

describe('hostsFile', () => {
  it('writes localhost and the given names', () => {
    assert.equal(hostsFile({ 'broker-0.brokers.ns.svc': '10.244.77.12' }), '127.0.0.1 localhost\n::1 localhost\n10.244.77.12 broker-0.brokers.ns.svc\n');
  });

  it('refuses what is not a host name or an IPv4 address, naming it', () => {
    assert.throws(() => hostsFile({ 'bad name': '10.244.77.12' }), /setHosts: "bad name" is not a host name/);
    assert.throws(() => hostsFile({ ok: '10.244.77.12\n1.2.3.4 evil' }), /setHosts: "ok": .* is not an IPv4 address/);
  });
});
