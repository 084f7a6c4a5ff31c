package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/api/v1alpha1"
)

// certificateLabels are cert-manager's labels of the per-certificate series;
// the ready status has condition after namespace.
var certificateLabels = []string{"name", "namespace", "issuer_name", "issuer_kind", "issuer_group"}

// readyStatuses are the values of the ready status's condition label: each
// Certificate has all three, 1 on its Ready condition's status (Unknown when
// it has none), 0 on the others, as cert-manager's.
var readyStatuses = []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}

// listTimeout bounds the read of the Certificates in one scrape.
const listTimeout = 10 * time.Second

// Certificates collects the per-certificate series from the Certificates in
// the controller's cache at each scrape: it keeps no state, so a
// deleted Certificate's series go with it.
type Certificates struct {
	reader client.Reader
	descs  []certificateDescs // one set per prefix
}

type certificateDescs struct {
	expiration, notBefore, notAfter, renewal, ready *prometheus.Desc
}

// NewCertificates returns the collector of the Certificates in r; with
// certManagerNames it exports each series under cert-manager's name too.
func NewCertificates(r client.Reader, certManagerNames bool) *Certificates {
	c := &Certificates{reader: r}
	ready := []string{"name", "namespace", "condition", "issuer_name", "issuer_kind", "issuer_group"}
	for _, p := range prefixes(certManagerNames) {
		c.descs = append(c.descs, certificateDescs{
			expiration: prometheus.NewDesc(p+CertificateExpiration, "The timestamp after which the certificate expires, expressed in Unix Epoch Time.", certificateLabels, nil),
			notBefore:  prometheus.NewDesc(p+CertificateNotBefore, "The timestamp before which the certificate is invalid, expressed as a Unix Epoch Time.", certificateLabels, nil),
			notAfter:   prometheus.NewDesc(p+CertificateNotAfter, "The timestamp after which the certificate is invalid, expressed as a Unix Epoch Time.", certificateLabels, nil),
			renewal:    prometheus.NewDesc(p+CertificateRenewal, "The timestamp after which the certificate should be renewed, expressed in Unix Epoch Time.", certificateLabels, nil),
			ready:      prometheus.NewDesc(p+CertificateReady, "The ready status of the certificate.", ready, nil),
		})
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Certificates) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d.expiration
		ch <- d.notBefore
		ch <- d.notAfter
		ch <- d.renewal
		ch <- d.ready
	}
}

// Collect implements prometheus.Collector. A Certificate not yet issued has
// its timestamps at 0, as cert-manager's.
func (c *Certificates) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	var list v1alpha1.CertificateList
	if err := c.reader.List(ctx, &list); err != nil {
		ch <- prometheus.NewInvalidMetric(c.descs[0].ready, fmt.Errorf("listing Certificates: %w", err))
		return
	}
	for i := range list.Items {
		crt := &list.Items[i]
		ref := crt.Spec.IssuerRef
		labels := []string{crt.Name, crt.Namespace, ref.Name, ref.Kind, ref.Group}
		status := metav1.ConditionUnknown
		for _, cond := range crt.Status.Conditions {
			if cond.Type == v1alpha1.ConditionReady {
				status = cond.Status
			}
		}
		for _, d := range c.descs {
			ch <- prometheus.MustNewConstMetric(d.expiration, prometheus.GaugeValue, unix(crt.Status.NotAfter), labels...)
			ch <- prometheus.MustNewConstMetric(d.notBefore, prometheus.GaugeValue, unix(crt.Status.NotBefore), labels...)
			ch <- prometheus.MustNewConstMetric(d.notAfter, prometheus.GaugeValue, unix(crt.Status.NotAfter), labels...)
			ch <- prometheus.MustNewConstMetric(d.renewal, prometheus.GaugeValue, unix(crt.Status.RenewalTime), labels...)
			for _, s := range readyStatuses {
				v := 0.0
				if s == status {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(d.ready, prometheus.GaugeValue, v,
					crt.Name, crt.Namespace, string(s), ref.Name, ref.Kind, ref.Group)
			}
		}
	}
}

func unix(t *metav1.Time) float64 {
	if t == nil {
		return 0
	}
	return float64(t.Unix())
}
