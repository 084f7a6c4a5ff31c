package route53

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// The XML namespaces of the two APIs' documents.
const (
	route53NS = "https://route53.amazonaws.com/doc/2013-04-01/"
	stsNS     = "https://sts.amazonaws.com/doc/2011-06-15/"
)

type xmlHostedZone struct {
	ID                     string `xml:"Id"`
	Name                   string `xml:"Name"`
	CallerReference        string `xml:"CallerReference"`
	PrivateZone            bool   `xml:"Config>PrivateZone"`
	ResourceRecordSetCount int    `xml:"ResourceRecordSetCount"`
}

type listHostedZonesByNameResponse struct {
	XMLName          xml.Name        `xml:"ListHostedZonesByNameResponse"`
	NS               string          `xml:"xmlns,attr"`
	HostedZones      []xmlHostedZone `xml:"HostedZones>HostedZone"`
	DNSName          string          `xml:"DNSName,omitempty"`
	HostedZoneID     string          `xml:"HostedZoneId,omitempty"`
	IsTruncated      bool            `xml:"IsTruncated"`
	NextDNSName      string          `xml:"NextDNSName,omitempty"`
	NextHostedZoneID string          `xml:"NextHostedZoneId,omitempty"`
	MaxItems         int             `xml:"MaxItems"`
}

type xmlRecordSet struct {
	Name          string   `xml:"Name"`
	Type          string   `xml:"Type"`
	SetIdentifier string   `xml:"SetIdentifier,omitempty"`
	TTL           int64    `xml:"TTL"`
	Records       []record `xml:"ResourceRecords>ResourceRecord"`
}

type record struct {
	Value string `xml:"Value"`
}

func (rs xmlRecordSet) values() []string {
	values := make([]string, len(rs.Records))
	for i, r := range rs.Records {
		values[i] = r.Value
	}
	return values
}

func records(values []string) []record {
	rs := make([]record, len(values))
	for i, v := range values {
		rs[i] = record{Value: v}
	}
	return rs
}

type listResourceRecordSetsResponse struct {
	XMLName        xml.Name       `xml:"ListResourceRecordSetsResponse"`
	NS             string         `xml:"xmlns,attr"`
	RecordSets     []xmlRecordSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated    bool           `xml:"IsTruncated"`
	NextRecordName string         `xml:"NextRecordName,omitempty"`
	NextRecordType string         `xml:"NextRecordType,omitempty"`
	MaxItems       int            `xml:"MaxItems"`
}

type changeResourceRecordSetsRequest struct {
	Comment string `xml:"ChangeBatch>Comment"`
	Changes []struct {
		Action    string       `xml:"Action"`
		RecordSet xmlRecordSet `xml:"ResourceRecordSet"`
	} `xml:"ChangeBatch>Changes>Change"`
}

type changeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

type changeResourceRecordSetsResponse struct {
	XMLName    xml.Name   `xml:"ChangeResourceRecordSetsResponse"`
	NS         string     `xml:"xmlns,attr"`
	ChangeInfo changeInfo `xml:"ChangeInfo"`
}

type getChangeResponse struct {
	XMLName    xml.Name   `xml:"GetChangeResponse"`
	NS         string     `xml:"xmlns,attr"`
	ChangeInfo changeInfo `xml:"ChangeInfo"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

// stsResponse is <{Action}Response><{Action}Result>...; XMLName names both.
type stsResponse struct {
	XMLName   xml.Name
	NS        string `xml:"xmlns,attr"`
	Result    stsResult
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type stsResult struct {
	XMLName        xml.Name
	Credentials    stsCredentials `xml:"Credentials"`
	AssumedRoleArn string         `xml:"AssumedRoleUser>Arn"`
	AssumedRoleID  string         `xml:"AssumedRoleUser>AssumedRoleId"`
}

// apiError is an error answer. Route 53 and STS both wrap errors in
// <ErrorResponse><Error>, except Route 53's InvalidChangeBatch, whose
// messages are a list of their own.
type apiError struct {
	Status  int
	Code    string
	Message string
	NS      string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	NS        string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

type invalidChangeBatch struct {
	XMLName   xml.Name `xml:"InvalidChangeBatch"`
	NS        string   `xml:"xmlns,attr"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	ns := e.NS
	if ns == "" {
		ns = route53NS
	}
	if e.Code == "Throttling" || e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if e.Code == "InvalidChangeBatch" {
		writeXML(w, e.Status, invalidChangeBatch{NS: ns, Messages: []string{e.Message}, RequestID: "standin"})
		return
	}
	kind := "Sender"
	if e.Status >= 500 {
		kind = "Receiver"
	}
	writeXML(w, e.Status, errorResponse{NS: ns, Type: kind, Code: e.Code, Message: e.Message, RequestID: "standin"})
}

func writeXML(w http.ResponseWriter, status int, body any) {
	out, err := xml.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", "standin")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// unquote reads a TXT value as Route 53 writes it: quoted strings, one or
// more, with backslash escapes, joined.
func unquote(value string) string {
	var b strings.Builder
	in, escaped := false, false
	for _, c := range value {
		switch {
		case escaped:
			b.WriteRune(c)
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			in = !in
		case in:
			b.WriteRune(c)
		}
	}
	return b.String()
}
