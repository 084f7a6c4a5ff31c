package cloudflare_test

import (
	"testing"

	"github.com/certflow/certflow/activities/dns/cloudflare"
	"github.com/certflow/certflow/activities/dns/dnstest"
)

// TestLive presents and removes a record through the real Cloudflare API,
// with a token allowed Zone:Read and DNS:Edit on the zone.
func TestLive(t *testing.T) {
	env := dnstest.LiveEnv(t, "CLOUDFLARE_API_TOKEN", "CERTFLOW_LIVE_CLOUDFLARE_ZONE")
	p, err := cloudflare.New(cloudflare.Config{APIToken: env["CLOUDFLARE_API_TOKEN"]})
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Live(t, p, env["CERTFLOW_LIVE_CLOUDFLARE_ZONE"])
}
