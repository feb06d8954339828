// The test bed's cert-manager controller: the released controllers of the
// github.com/cert-manager/cert-manager module, run the way its own controller
// binary runs them (one ContextFactory, every registered controller, the shared
// informers started after them). The release's main lives in a nested module
// (cmd/controller) that the Go module proxy does not serve, so this small main
// stands in for it. What differs from the released binary: only the
// controllers imported below run (Certificates, CertificateRequests for the
// SelfSigned and CA issuers, their approver, Issuers and ClusterIssuers); no
// ACME, Vault or Venafi issuer, no ingress/gateway shim, no leader election,
// no webhook (so no defaulting or validation on admission), no metrics server.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

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
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster to manage")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager",
		"namespace of the Secrets that ClusterIssuers reference")
	// The release's defaults (cmd/controller/app/options).
	minBackoff := flag.Duration("certificate-request-minimum-backoff-duration", time.Hour,
		"first wait after a failed issuance")
	maxBackoff := flag.Duration("certificate-request-maximum-backoff-duration", 32*time.Hour,
		"longest wait after repeated failed issuances")
	klog.InitFlags(nil)
	flag.Parse()
	logf.InitLogs()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, klog.Background(), "controller")
	log := logf.FromContext(ctx)

	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: *clusterResourceNamespace},
		CertificateOptions: controller.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: *minBackoff,
			CertificateRequestMaximumBackoffDuration: *maxBackoff,
		},
	})
	if err != nil {
		log.Error(err, "building the controller context")
		os.Exit(1)
	}

	names := make([]string, 0, len(controller.Known()))
	for name := range controller.Known() {
		names = append(names, name)
	}
	sort.Strings(names)
	var running sync.WaitGroup
	for _, name := range names {
		loop, err := controller.Known()[name](factory)
		if err != nil {
			log.Error(err, "starting controller", "controller", name)
			os.Exit(1)
		}
		log.Info("starting controller", "controller", name)
		running.Add(1)
		go func() {
			defer running.Done()
			if err := loop.Run(5, ctx); err != nil {
				log.Error(err, "controller stopped", "controller", name)
				os.Exit(1)
			}
		}()
	}

	// Every Context the factory builds shares its informer factories: start them
	// once, after the controllers have asked for their informers.
	shared, err := factory.Build()
	if err != nil {
		log.Error(err, "building the shared informers")
		os.Exit(1)
	}
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	running.Wait()
}
