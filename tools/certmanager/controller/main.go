// Command controller runs cert-manager's controllers, from the cert-manager Go module, as one
// host process for Bulwark's tests (tools/certmanager/launcher.ts starts it).
//
// cert-manager's own controller binary lives in a nested module (cmd/controller) that the Go
// module proxy does not serve, so this is a small main over the same library: every controller
// is the one cert-manager registers (pkg/controller.Known()), built from the same
// ContextFactory, run the way cmd/controller/app runs them. What it leaves out, on purpose:
// leader election (one instance only), the metrics and health servers, ACME, Vault and Venafi
// (not imported, so not linked), ingress/gateway shims. The webhook is a separate binary and is
// not run: see docs/testing.md, "cert-manager".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Controllers: each package registers itself in init().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer types the issuers controllers can set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// ReadyLine is printed on stderr once every controller's informer caches have synced.
const ReadyLine = "bulwark-certmanager: ready"

func main() {
	klog.InitFlags(flag.CommandLine)
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server (required)")
	controllers := flag.String("controllers", "*", "comma-separated controllers to run, or * for every linked one")
	namespace := flag.String("namespace", "", "watch only this namespace (default: all)")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "kube-system", "namespace of ClusterIssuers' Secrets")
	workers := flag.Int("workers", 5, "workers per controller")
	list := flag.Bool("list", false, "print the linked controllers and exit")
	flag.Parse()
	logf.InitLogs()

	known := controllerpkg.Known()
	if *list {
		for _, n := range sortedNames(known) {
			fmt.Println(n)
		}
		return
	}
	if *kubeconfig == "" {
		fail("--kubeconfig is required")
	}
	enabled := sortedNames(known)
	if *controllers != "*" {
		enabled = nil
		for _, n := range strings.Split(*controllers, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if _, ok := known[n]; !ok {
				fail(fmt.Sprintf("--controllers: unknown controller %q (linked: %s)", n, strings.Join(sortedNames(known), ",")))
			}
			enabled = append(enabled, n)
		}
	}
	if *namespace != "" {
		enabled = without(enabled, "clusterissuers")
	}

	rootCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rootCtx = logf.NewContext(rootCtx, klog.Background(), "cert-manager", "controller")

	factory, err := controllerpkg.NewContextFactory(rootCtx, controllerpkg.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		Namespace:          *namespace,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: *clusterResourceNamespace},
		CertificateOptions: controllerpkg.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		fail(fmt.Sprintf("building the controller context: %v", err))
	}

	type running struct {
		name string
		ctrl controllerpkg.Interface
	}
	var ctrls []running
	for _, n := range enabled {
		c, err := known[n](factory)
		if err != nil {
			fail(fmt.Sprintf("constructing controller %s: %v", n, err))
		}
		ctrls = append(ctrls, running{n, c})
	}

	var wg sync.WaitGroup
	for _, r := range ctrls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.ctrl.Run(*workers, rootCtx); err != nil {
				fail(fmt.Sprintf("controller %s: %v", r.name, err))
			}
		}()
	}

	// The constructors above registered the informers they need; start them all and wait for
	// their first list, which is also what each controller's Run waits for.
	shared, err := factory.Build()
	if err != nil {
		fail(fmt.Sprintf("building the informer context: %v", err))
	}
	done := rootCtx.Done()
	shared.SharedInformerFactory.Start(done)
	shared.KubeSharedInformerFactory.Start(done)
	shared.HTTP01ResourceMetadataInformersFactory.Start(done)
	for name, ok := range shared.SharedInformerFactory.WaitForCacheSync(done) {
		if !ok {
			fail(fmt.Sprintf("informer cache for %v did not sync", name))
		}
	}
	for name, ok := range shared.KubeSharedInformerFactory.WaitForCacheSync(done) {
		if !ok {
			fail(fmt.Sprintf("informer cache for %v did not sync", name))
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %d controllers (%s)\n", ReadyLine, len(ctrls), strings.Join(enabled, ","))

	wg.Wait()
	logf.FlushLogs()
}

func sortedNames[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func without(list []string, name string) []string {
	out := list[:0:0]
	for _, n := range list {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "bulwark-certmanager:", msg)
	os.Exit(1)
}
