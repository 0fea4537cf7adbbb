// The real kube-apiserver + etcd the tests start: the launcher lives in tools/controlplane/ (the
// local cluster of `npm run cluster:up` uses it too); tests import it from here.
export * from '../../tools/controlplane/launcher.ts';
