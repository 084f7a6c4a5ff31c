package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/certflow/certflow/api/v1alpha1"
)

// A Certificate whose last attempt failed on its configuration (a TSIG key
// the DNS server refuses, a zone it does not serve, a keystore password
// Secret that is missing) waits for someone to fix it: its
// status.nextAttemptReason is ConfigurationChange. What fixes it is a new
// generation of its issuer, or a new version of a Secret the issuer reads
// (v1alpha1.IssuerSpec.SecretNames) or of a keystore password Secret of the
// Certificate. For such a Certificate the reconciler sends the version of
// all these (configVersion) with its hint, and a new one starts the next
// attempt at once. The Certificates of a ca issuer carry it always, so that
// a renewed CA rolls through to them. Other Certificates' hints carry none,
// so an issuer or Secret change wakes no workflow that is not waiting for it.
//
// The issuers' Secrets are watched in a cache of their own, as names and
// versions only: the manager's cache holds only certflow's target Secrets.

// secretIndex indexes Issuers and ClusterIssuers by the names of the
// Secrets they read, and Certificates by their keystore password Secrets.
const secretIndex = "spec.secretNames"

func indexSecrets(mgr manager.Manager) error {
	indexes := map[client.Object]func(client.Object) []string{
		&v1alpha1.Issuer{}:        issuerSecretNames,
		&v1alpha1.ClusterIssuer{}: issuerSecretNames,
		&v1alpha1.Certificate{}: func(obj client.Object) []string {
			return obj.(*v1alpha1.Certificate).Spec.Keystores.PasswordSecretNames()
		},
	}
	for obj, names := range indexes {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, secretIndex, names); err != nil {
			return fmt.Errorf("indexing %T by Secret: %w", obj, err)
		}
	}
	return nil
}

func issuerSecretNames(obj client.Object) []string {
	return obj.(v1alpha1.IssuerObject).IssuerSpec().SecretNames()
}

// newSecretVersions makes the cache of every Secret's name and version,
// started with the manager.
func newSecretVersions(mgr manager.Manager) (cache.Cache, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(),
		Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			secretMetadata(): {Transform: keepVersion},
		},
		ReaderFailOnMissingInformer: true,
	})
	if err != nil {
		return nil, fmt.Errorf("making the cache of issuer Secrets: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("adding the cache of issuer Secrets: %w", err)
	}
	return c, nil
}

// keepVersion keeps of an object its name, namespace and version.
func keepVersion(obj any) (any, error) {
	if o, ok := obj.(*metav1.PartialObjectMetadata); ok {
		o.ObjectMeta = metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, ResourceVersion: o.ResourceVersion}
	}
	return obj, nil
}

// watchIssuerSecrets brings back the Certificates that wait for a
// configuration change when a Secret their issuer reads changes.
func (r *certificateReconciler) watchIssuerSecrets() source.Source {
	return source.Kind(r.secrets, client.Object(secretMetadata()), handler.EnqueueRequestsFromMapFunc(r.waitingOnSecret))
}

// waitingOnSecret maps a Secret to the Certificates waiting for a change
// that read it, or whose issuer reads it.
func (r *certificateReconciler) waitingOnSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	var certs v1alpha1.CertificateList
	if err := r.client.List(ctx, &certs, client.InNamespace(secret.GetNamespace()), client.MatchingFields{secretIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the Certificates of a Secret", "secret", client.ObjectKeyFromObject(secret))
	}
	for i := range certs.Items {
		if waitsForConfigChange(&certs.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&certs.Items[i])})
		}
	}
	add := func(kind string, list client.ObjectList, opts ...client.ListOption) {
		opts = append(opts, client.MatchingFields{secretIndex: secret.GetName()})
		if err := r.client.List(ctx, list, opts...); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the issuers of a Secret", "kind", kind, "secret", client.ObjectKeyFromObject(secret))
			return
		}
		issuers, _ := apimeta.ExtractList(list) // a typed list's items always extract
		for _, issuer := range issuers {
			which := waitsForConfigChange
			if signsWithKeyPair(issuer.(client.Object)) {
				which = func(*v1alpha1.Certificate) bool { return true }
			}
			reqs = append(reqs, r.certificatesOfIssuer(ctx, kind, issuer.(client.Object), which)...)
		}
	}
	add(v1alpha1.IssuerKind, &v1alpha1.IssuerList{}, client.InNamespace(secret.GetNamespace()))
	if secret.GetNamespace() == r.clusterResourceNamespace {
		add(v1alpha1.ClusterIssuerKind, &v1alpha1.ClusterIssuerList{})
	}
	return reqs
}

func waitsForConfigChange(cert *v1alpha1.Certificate) bool {
	return cert.Status.NextAttemptReason == v1alpha1.NextAttemptConfigurationChange
}

// signsWithKeyPair says whether the issuer is a ca issuer: when its key
// pair's Secret changes (the CA was renewed), every Certificate it signed
// looks at its Secret again, and is signed again by the new CA.
func signsWithKeyPair(issuer client.Object) bool {
	i, ok := issuer.(v1alpha1.IssuerObject)
	return ok && i.IssuerSpec().CA != nil
}

// configVersion names the version of a Certificate's configuration besides
// its spec: its issuer's generation and the resourceVersion of each Secret
// the issuer reads and of each keystore password Secret (none for a Secret
// that does not exist), hashed to a short string.
func (r *certificateReconciler) configVersion(ctx context.Context, cert *v1alpha1.Certificate, issuer v1alpha1.IssuerObject) (string, error) {
	issuerNamespace := issuer.GetNamespace()
	if issuerNamespace == "" {
		issuerNamespace = r.clusterResourceNamespace
	}
	h := sha256.New()
	fmt.Fprintf(h, "generation %d\n", issuer.GetGeneration())
	version := func(namespace, name string) error {
		secret := secretMetadata()
		err := r.secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading the version of Secret %s/%s: %w", namespace, name, err)
		}
		fmt.Fprintf(h, "secret %s/%s %s\n", namespace, name, secret.ResourceVersion)
		return nil
	}
	for _, name := range issuer.IssuerSpec().SecretNames() {
		if err := version(issuerNamespace, name); err != nil {
			return "", err
		}
	}
	for _, name := range cert.Spec.Keystores.PasswordSecretNames() {
		if err := version(cert.Namespace, name); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}
