// The test node's configuration files, as pure functions of its layout: containerd's config.toml,
// the kubelet's KubeletConfiguration and the CNI conflist. No I/O here; launcher.ts writes them.
import { KUBERNETES_SERVICE_IP } from '../controlplane/launcher.ts';

/** Where a node keeps everything under its directory, and the paths it must use outside it. */
export interface NodeLayout {
  /** The node's directory: every file it writes lives here, except the few named below. */
  dir: string;
  /** Directory holding kubelet, containerd, runc-wrap, pause, cni/ (from scripts/node-build.sh). */
  nodeBin: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  kubeletRoot: string;
  podLogs: string;
  cniConfDir: string;
  cniIpamDir: string;
  /** The CA that signed every client certificate (the kubelet's x509 client CA). */
  caCert: string;
}

export function nodeLayout(dir: string, nodeBin: string, caCert: string): NodeLayout {
  return {
    dir,
    nodeBin,
    containerdRoot: `${dir}/containerd/root`,
    containerdState: `${dir}/containerd/state`,
    containerdSocket: `${dir}/run/containerd.sock`,
    kubeletRoot: `${dir}/kubelet`,
    podLogs: `${dir}/pod-logs`,
    cniConfDir: `${dir}/cni/net.d`,
    cniIpamDir: `${dir}/cni/ipam`,
    caCert,
  };
}

/** containerd's runc state and shim sockets: hard-coded by containerd, shared by every instance. */
export const CONTAINERD_RUN = '/run/containerd';
export const RUNC_ROOT_K8S = '/run/containerd/runc/k8s.io';
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.2';

export interface BridgeSpec {
  name: string;
  /** `a.b.c.0/24` */
  cidr: string;
  /** `a.b.c.1`: the bridge's own address, the node IP and the API server's address. */
  gatewayIp: string;
  /** First three octets with a trailing dot, `a.b.c.` */
  prefix: string;
}

const BRIDGE_NAME_RE = /^[a-z][a-z0-9]{1,9}$/;
const CIDR24_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/;

/** Checks the bridge options; errors name the field. Only /24 networks are supported. */
export function bridgeSpec(name = 'bwk0', cidr = '10.244.77.0/24'): BridgeSpec {
  if (!BRIDGE_NAME_RE.test(name)) {
    throw new Error(`bridge.name: ${JSON.stringify(name)} must match ${BRIDGE_NAME_RE} (an interface name that leaves room for suffixes)`);
  }
  const m = CIDR24_RE.exec(cidr);
  if (!m || m.slice(1, 4).some((o) => Number(o) > 255)) {
    throw new Error(`bridge.cidr: ${JSON.stringify(cidr)} must be an IPv4 /24 written as a.b.c.0/24`);
  }
  const prefix = `${m[1]}.${m[2]}.${m[3]}.`;
  return { name, cidr, gatewayIp: `${prefix}1`, prefix };
}

/** Pods get .10–.250; client hosts (clientHost()) take .251–.254. */
export const POD_RANGE = { start: 10, end: 250 } as const;
export const CLIENT_HOST_RANGE = { start: 251, end: 254 } as const;

export function containerdConfig(l: NodeLayout): string {
  return `version = 3
root = "${l.containerdRoot}"
state = "${l.containerdState}"

[grpc]
  address = "${l.containerdSocket}"
[ttrpc]
  address = "${l.containerdSocket}.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${l.dir}/containerd/opt"
[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${PAUSE_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  # Pod network namespaces are mounted under our state dir, not /var/run/netns, so the node's
  # cleanup finds every one of them (also those of sandboxes stopped but not yet removed).
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "${l.nodeBin}/runc-wrap"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["${l.nodeBin}/cni"]
    conf_dir = "${l.cniConfDir}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

export interface KubeletPorts {
  /** The kubelet's API (logs, exec), on the gateway IP. */
  port: number;
  /** /healthz on 127.0.0.1. */
  healthzPort: number;
}

export function kubeletConfig(l: NodeLayout, bridge: BridgeSpec, ports: KubeletPorts): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${l.containerdSocket}
address: ${bridge.gatewayIp}
port: ${ports.port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.healthzPort}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${l.caCert}}
authorization: {mode: Webhook}
podLogsDir: ${l.podLogs}
volumePluginDir: ${l.kubeletRoot}/volume-plugins
resolvConf: ""
failSwapOn: false
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
maxPods: 50
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
`;
}

export function cniConflist(l: NodeLayout, bridge: BridgeSpec): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: `bulwark-${bridge.name}`,
      plugins: [
        {
          type: 'bridge',
          bridge: bridge.name,
          // No gateway, no masquerade, no default route: pods reach only the bridge's /24 and the
          // `kubernetes` Service's address, routed to the host, which sends it to the API server
          // on the gateway (network.ts, routeKubernetesService); the bridge plugin never turns
          // ip_forward on.
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: l.cniIpamDir,
            ranges: [
              [
                {
                  subnet: bridge.cidr,
                  rangeStart: `${bridge.prefix}${POD_RANGE.start}`,
                  rangeEnd: `${bridge.prefix}${POD_RANGE.end}`,
                  gateway: bridge.gatewayIp,
                },
              ],
            ],
            routes: [{ dst: `${KUBERNETES_SERVICE_IP}/32`, gw: bridge.gatewayIp }],
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}
