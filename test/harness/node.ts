// A real single-node Kubernetes (control plane, controllers, scheduler, containerd, kubelet) for
// tests that run pods: the launcher lives in tools/node/ (`npm run cluster:up` uses it too).
export * from '../../tools/node/launcher.ts';
