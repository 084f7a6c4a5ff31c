package route53

import (
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/certflow/certflow/internal/standin"
)

// hostedZone holds TXT record sets by canonical name.
type hostedZone struct {
	id, name string // name canonical: lower case, trailing dot
	private  bool
	inBIND   bool
	txt      map[string]*txtSet
}

type txtSet struct {
	ttl    int64
	values []string // as Route 53 keeps them: quoted
}

func canonical(name string) string { return dns.Fqdn(strings.ToLower(name)) }

// order is Route 53's: by name with the labels reversed ("test.certflow.www").
func order(a, b string) int {
	return slices.Compare(reversed(a), reversed(b))
}

func reversed(name string) []string {
	labels := dns.SplitDomainName(name)
	slices.Reverse(labels)
	return labels
}

func (s *Server) addZone(z Zone, inBIND bool) {
	hz := &hostedZone{id: s.nextID("Z"), name: canonical(z.Name), private: z.Private, inBIND: inBIND, txt: map[string]*txtSet{}}
	s.zones = append(s.zones, hz)
	slices.SortStableFunc(s.zones, func(a, b *hostedZone) int {
		return cmp.Or(order(a.name, b.name), strings.Compare(a.id, b.id))
	})
}

// listHostedZonesByName lists zones from (dnsname, hostedzoneid) on, in
// Route 53's order, a page at a time.
func (s *Server) listHostedZonesByName(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxItems, err := maxItems(q.Get("maxitems"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	maxItems = min(maxItems, s.opts.PageSize)
	from := canonical(q.Get("dnsname"))
	fromID := strings.TrimPrefix(q.Get("hostedzoneid"), "/hostedzone/")
	start := 0
	if q.Get("dnsname") != "" {
		start = slices.IndexFunc(s.zones, func(z *hostedZone) bool {
			return cmp.Or(order(z.name, from), strings.Compare(z.id, fromID)) >= 0
		})
		if start < 0 {
			start = len(s.zones)
		}
	}
	resp := listHostedZonesByNameResponse{NS: route53NS, DNSName: q.Get("dnsname"), HostedZoneID: q.Get("hostedzoneid"), MaxItems: maxItems}
	end := min(start+maxItems, len(s.zones))
	for _, z := range s.zones[start:end] {
		resp.HostedZones = append(resp.HostedZones, xmlHostedZone{
			ID: "/hostedzone/" + z.id, Name: z.name, CallerReference: "standin-" + z.id, PrivateZone: z.private, ResourceRecordSetCount: len(z.txt),
		})
	}
	if end < len(s.zones) {
		resp.IsTruncated, resp.NextDNSName, resp.NextHostedZoneID = true, s.zones[end].name, s.zones[end].id
	}
	writeXML(w, http.StatusOK, resp)
}

func maxItems(v string) (int, *apiError) {
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, &apiError{Status: http.StatusBadRequest, Code: "InvalidInput", Message: fmt.Sprintf("maxitems %q is not a positive number", v)}
	}
	return n, nil
}

func (s *Server) zone(id string) (*hostedZone, *apiError) {
	id = strings.TrimPrefix(id, "/hostedzone/")
	for _, z := range s.zones {
		if z.id == id {
			return z, nil
		}
	}
	return nil, &apiError{Status: http.StatusNotFound, Code: "NoSuchHostedZone", Message: "No hosted zone found with ID: " + id}
}

// listResourceRecordSets lists the TXT sets from (name, type) on, in Route
// 53's order.
func (s *Server) listResourceRecordSets(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	limit, aerr := maxItems(q.Get("maxitems"))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, aerr := s.zone(id)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	names := make([]string, 0, len(z.txt))
	for name := range z.txt {
		if q.Get("name") == "" || cmp.Or(order(name, canonical(q.Get("name"))), strings.Compare("TXT", cmp.Or(q.Get("type"), "TXT"))) >= 0 {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, order)
	resp := listResourceRecordSetsResponse{NS: route53NS, MaxItems: limit}
	if len(names) > limit {
		resp.IsTruncated, resp.NextRecordName, resp.NextRecordType = true, names[limit], "TXT"
		names = names[:limit]
	}
	for _, name := range names {
		set := z.txt[name]
		resp.RecordSets = append(resp.RecordSets, xmlRecordSet{Name: name, Type: "TXT", TTL: set.ttl, Records: records(set.values)})
	}
	writeXML(w, http.StatusOK, resp)
}

// changeResourceRecordSets checks every change of the batch, then makes
// them all; BIND's zone gets each TXT value added or removed.
func (s *Server) changeResourceRecordSets(w http.ResponseWriter, r *http.Request, id string, req *standin.Request) {
	var batch changeResourceRecordSetsRequest
	if err := xml.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&batch); err != nil {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "InvalidInput", Message: "reading the change batch: " + err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, aerr := s.zone(id)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	next := map[string]*txtSet{}
	for name, set := range z.txt {
		next[name] = set
	}
	for _, c := range batch.Changes {
		if aerr := apply(z, next, c.Action, c.RecordSet); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	if aerr := s.write(r.Context(), z, next); aerr != nil {
		writeError(w, aerr)
		return
	}
	req.Zone = z.name
	info := changeInfo{ID: "/change/" + s.nextID("C"), Status: "PENDING", SubmittedAt: time.Now().UTC().Format(time.RFC3339), Comment: batch.Comment}
	s.changes[strings.TrimPrefix(info.ID, "/change/")] = 1
	writeXML(w, http.StatusOK, changeResourceRecordSetsResponse{NS: route53NS, ChangeInfo: info})
}

// apply makes one change to next, or says why Route 53 would refuse it.
func apply(z *hostedZone, next map[string]*txtSet, action string, rs xmlRecordSet) *apiError {
	name := canonical(rs.Name)
	refuse := func(format string, args ...any) *apiError {
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidChangeBatch", Message: fmt.Sprintf(format, args...)}
	}
	if rs.Type != "TXT" {
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidInput", Message: fmt.Sprintf("the stand-in serves TXT record sets only, not %s", rs.Type)}
	}
	if !dns.IsSubDomain(z.name, name) {
		return refuse("RRSet with DNS name %s is not permitted in zone %s", name, z.name)
	}
	if action != "DELETE" && len(rs.Records) == 0 {
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidInput", Message: "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=" + action + ", Name=" + name + ", Type=TXT]"}
	}
	current, exists := next[name]
	switch action {
	case "CREATE":
		if exists {
			return refuse("Tried to create resource record set [name='%s', type='TXT'] but it already exists", name)
		}
		next[name] = &txtSet{ttl: rs.TTL, values: rs.values()}
	case "UPSERT":
		next[name] = &txtSet{ttl: rs.TTL, values: rs.values()}
	case "DELETE":
		if !exists {
			return refuse("Tried to delete resource record set [name='%s', type='TXT'] but it was not found", name)
		}
		if current.ttl != rs.TTL || !slices.Equal(sorted(current.values), sorted(rs.values())) {
			return refuse("Tried to delete resource record set [name='%s', type='TXT'] but the values provided do not match the current values", name)
		}
		delete(next, name)
	default:
		return &apiError{Status: http.StatusBadRequest, Code: "InvalidInput", Message: fmt.Sprintf("unknown action %q", action)}
	}
	return nil
}

func sorted(values []string) []string {
	return slices.Sorted(slices.Values(values))
}

// write makes the zone hold next: values added and removed go to BIND when
// it is BIND's zone, and into the log either way.
func (s *Server) write(ctx context.Context, z *hostedZone, next map[string]*txtSet) *apiError {
	for _, name := range names(z.txt, next) {
		var before, after []string
		var ttl int64
		if set := z.txt[name]; set != nil {
			before = set.values
		}
		if set := next[name]; set != nil {
			after, ttl = set.values, set.ttl
		}
		for _, v := range after {
			if slices.Contains(before, v) {
				continue
			}
			if z.inBIND {
				if err := s.records.Add(ctx, name, unquote(v), int(ttl)); err != nil {
					return &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "writing to the nameservers: " + err.Error()}
				}
			}
			s.log.Add(standin.Request{Action: "create", Zone: z.name, Name: name, Value: unquote(v), Status: http.StatusOK})
		}
		for _, v := range before {
			if slices.Contains(after, v) {
				continue
			}
			if z.inBIND {
				if err := s.records.Remove(ctx, name, unquote(v)); err != nil {
					return &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "writing to the nameservers: " + err.Error()}
				}
			}
			s.log.Add(standin.Request{Action: "delete", Zone: z.name, Name: name, Value: unquote(v), Status: http.StatusOK})
		}
	}
	z.txt = next
	return nil
}

// names are the names of either map, sorted.
func names(a, b map[string]*txtSet) []string {
	var all []string
	for name := range a {
		all = append(all, name)
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			all = append(all, name)
		}
	}
	slices.Sort(all)
	return all
}

// getChange says PENDING for the first polls of a change, then INSYNC.
func (s *Server) getChange(w http.ResponseWriter, id string) {
	id = strings.TrimPrefix(id, "/change/")
	s.mu.Lock()
	defer s.mu.Unlock()
	left, ok := s.changes[id]
	if !ok {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NoSuchChange", Message: "A change with the specified change ID does not exist: " + id})
		return
	}
	status := "INSYNC"
	if left > 0 {
		status = "PENDING"
		s.changes[id] = left - 1
	}
	writeXML(w, http.StatusOK, getChangeResponse{NS: route53NS, ChangeInfo: changeInfo{ID: "/change/" + id, Status: status, SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
}
