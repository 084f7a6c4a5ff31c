package activities

// The steps of the issuers that sign in one step (packages
// activities/issuers/ca and activities/issuers/vault, routed by
// activities/issuers/signing): SignCertificate signs the issuance's CSR, and
// CheckIssuer says whether such an issuer can sign, for its Ready condition.
var (
	SignCertificate = declare[SignInput, FinalizeResult]("SignCertificate")
	CheckIssuer     = declare[CheckIssuerInput, CheckIssuerResult]("CheckIssuer")
)

// SignInput has a ca, selfSigned or vault issuer sign an issuance's CSR.
type SignInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Request     Request
	// PendingKeySecret holds the issuance's key, which signs a self-signed
	// certificate.
	PendingKeySecret string
	// CSR is the request EnsurePendingKey made with that key (DER).
	CSR []byte
}

// CheckIssuerInput asks whether an issuer that signs in one step can sign.
type CheckIssuerInput struct {
	Issuer IssuerRef
}

// CheckIssuerResult is the issuer's Ready condition when it can; an error
// (a configuration error saying what is wrong) when it cannot.
type CheckIssuerResult struct {
	Reason  string
	Message string
}
