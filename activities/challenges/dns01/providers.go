package dns01

import (
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/acmedns"
	"github.com/certflow/certflow/activities/dns/azuredns"
	"github.com/certflow/certflow/activities/dns/clouddns"
	"github.com/certflow/certflow/activities/dns/cloudflare"
	"github.com/certflow/certflow/activities/dns/digitalocean"
	"github.com/certflow/certflow/activities/dns/lego"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	"github.com/certflow/certflow/activities/dns/route53"
	"github.com/certflow/certflow/activities/dns/webhook"
)

// Providers are the DNS services certflow presents records in. A new
// provider is a folder under activities/dns that passes the conformance
// suite (activities/dns/dnstest), and a line here.
var Providers = []certflowdns.Kind{
	rfc2136.Kind,
	cloudflare.Kind,
	route53.Kind,
	azuredns.Kind,
	clouddns.Kind,
	digitalocean.Kind,
	acmedns.Kind,
	webhook.Kind,
	lego.Kind,
}
