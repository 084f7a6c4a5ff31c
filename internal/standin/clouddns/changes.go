package clouddns

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/certflow/certflow/internal/standin"
)

// change is the body of changes.create.
type change struct {
	Additions []RRSet `json:"additions"`
	Deletions []RRSet `json:"deletions"`
}

// createChange applies a change atomically, as Cloud DNS does: every
// deletion must match a set that is there exactly (else 412
// conditionNotMet), and no addition may name a set that is there once the
// deletions are made (else 409 alreadyExists). In BIND's zone, each TXT
// value the change adds goes into BIND and each it takes away leaves it.
func (s *Server) createChange(w http.ResponseWriter, r *http.Request) {
	zoneName := r.PathValue("zone")
	zone, ok := s.zone(zoneName)
	if !ok {
		s.zoneNotFound(w, r)
		return
	}
	var c change
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		s.fail(w, r, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sets := slices.Clone(s.rrsets[zoneName])
	for i, del := range c.Deletions {
		at := slices.IndexFunc(sets, func(set RRSet) bool { return sameSet(set, del) })
		if at < 0 || sets[at].TTL != del.TTL || !sameValues(sets[at].RRDatas, del.RRDatas) {
			s.fail(w, r, http.StatusPreconditionFailed, "conditionNotMet", fmt.Sprintf("Precondition not met for 'entity.change.deletions[%d]'", i))
			return
		}
		sets = slices.Delete(sets, at, at+1)
	}
	for i, add := range c.Additions {
		name := strings.ToLower(add.Name)
		if name != zone.DNSName && !strings.HasSuffix(name, "."+zone.DNSName) || len(add.RRDatas) == 0 {
			s.fail(w, r, http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for 'entity.change.additions[%d]'", i))
			return
		}
		if slices.ContainsFunc(sets, func(set RRSet) bool { return sameSet(set, add) }) {
			s.fail(w, r, http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource 'entity.change.additions[%d]' named '%s (%s)' already exists", i, add.Name, add.Type))
			return
		}
		add.Kind = "dns#resourceRecordSet"
		sets = append(sets, add)
	}
	if zoneName == BINDZoneName(s.bind) {
		if err := s.writeBIND(r, zoneName, c); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "backendError", "Writing to BIND: "+err.Error())
			return
		}
	} else {
		s.logValues(r, zoneName, c)
	}
	s.rrsets[zoneName] = sets
	id := strconv.Itoa(len(s.changes) + 1)
	status := "done"
	if s.opts.PendingChanges {
		status = "pending"
	}
	made := map[string]any{"kind": "dns#change", "id": id, "status": status, "additions": c.Additions, "deletions": c.Deletions}
	s.changes[zoneName+"/"+id] = made
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "changes.create", Zone: zone.DNSName, Status: http.StatusOK})
	writeJSON(w, http.StatusOK, made)
}

// getChange answers a change, done by now.
func (s *Server) getChange(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	made, ok := s.changes[r.PathValue("zone")+"/"+r.PathValue("id")]
	if ok {
		made["status"] = "done"
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, r, http.StatusNotFound, "notFound", fmt.Sprintf("The 'parameters.changeId' resource named '%s' does not exist.", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, made)
}

// writeBIND makes BIND hold the TXT values of the change, name by name,
// and logs a create or delete for each value added or taken away.
func (s *Server) writeBIND(r *http.Request, zone string, c change) error {
	for name, diff := range valueDiffs(c) {
		for _, v := range diff.removed {
			if err := s.records.Remove(r.Context(), name, v); err != nil {
				return err
			}
		}
		for _, v := range diff.added {
			if err := s.records.Add(r.Context(), name, v, int(diff.ttl)); err != nil {
				return err
			}
		}
	}
	s.logValues(r, zone, c)
	return nil
}

func (s *Server) logValues(r *http.Request, zone string, c change) {
	dnsName := ""
	for _, z := range s.zones {
		if z.Name == zone {
			dnsName = z.DNSName
		}
	}
	for name, diff := range valueDiffs(c) {
		for _, v := range diff.removed {
			s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "delete", Zone: dnsName, Name: name, Value: v, Status: http.StatusOK})
		}
		for _, v := range diff.added {
			s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "create", Zone: dnsName, Name: name, Value: v, Status: http.StatusOK})
		}
	}
}

type valueDiff struct {
	added, removed []string
	ttl            int64
}

// valueDiffs are, by name, the TXT values a change adds and takes away
// (a value both deleted and added again stays, and is in neither).
func valueDiffs(c change) map[string]*valueDiff {
	diffs := map[string]*valueDiff{}
	at := func(name string) *valueDiff {
		name = strings.ToLower(name)
		if diffs[name] == nil {
			diffs[name] = &valueDiff{}
		}
		return diffs[name]
	}
	before, after := map[string][]string{}, map[string][]string{}
	for _, set := range c.Deletions {
		if set.Type == "TXT" {
			before[strings.ToLower(set.Name)] = unquoteAll(set.RRDatas)
		}
	}
	for _, set := range c.Additions {
		if set.Type == "TXT" {
			after[strings.ToLower(set.Name)] = unquoteAll(set.RRDatas)
			at(set.Name).ttl = set.TTL
		}
	}
	for name, values := range before {
		for _, v := range values {
			if !slices.Contains(after[name], v) {
				at(name).removed = append(at(name).removed, v)
			}
		}
	}
	for name, values := range after {
		for _, v := range values {
			if !slices.Contains(before[name], v) {
				at(name).added = append(at(name).added, v)
			}
		}
	}
	return diffs
}

// unquoteAll reads TXT rrdatas as Cloud DNS holds them: character-strings
// in quotes, joined.
func unquoteAll(rrdatas []string) []string {
	var values []string
	for _, d := range rrdatas {
		var parts []string
		for _, p := range strings.Split(d, `" "`) {
			parts = append(parts, strings.Trim(p, `"`))
		}
		values = append(values, strings.Join(parts, ""))
	}
	return values
}

func sameSet(a, b RRSet) bool { return strings.EqualFold(a.Name, b.Name) && a.Type == b.Type }

func sameValues(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
