package route53_test

import (
	"testing"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	"github.com/certflow/certflow/activities/dns/route53"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// TestLive presents and removes a record through the real Route 53 API,
// with the AWS credentials of the environment (as a ClusterIssuer's solver
// without keys uses the worker's).
func TestLive(t *testing.T) {
	env := dnstest.LiveEnv(t, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CERTFLOW_LIVE_ROUTE53_ZONE")
	solver := &certflowv1.ACMEChallengeSolverDNS01{Route53: &certflowv1.ACMEIssuerDNS01ProviderRoute53{}}
	p := dnstest.BuildWith(t, []certflowdns.Kind{route53.Kind}, solver, certflowdns.Setup{Credentials: dnstest.Secrets{}, AmbientCredentials: true})
	dnstest.Live(t, p, env["CERTFLOW_LIVE_ROUTE53_ZONE"])
}
