package route53

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// classify marks the errors of Route 53 and STS that no retry can mend.
//
//	answer                                             class
//	throttling (Throttling, PriorRequestNotComplete),  retryable: the SDK has tried 3 times
//	  429, 5xx                                         with jittered backoff, the activity goes on
//	other 4xx (AccessDenied, InvalidClientTokenId,     Permanent, with AWS's code and message
//	  SignatureDoesNotMatch, NoSuchHostedZone,
//	  InvalidChangeBatch, InvalidInput)
//	no answer (network, context)                       retryable
//
// The SDK's error names the operation, the status, the code and AWS's
// message, never the credentials.
func classify(err error) error {
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) {
		return err
	}
	status := resp.HTTPStatusCode()
	var api smithy.APIError
	if errors.As(err, &api) {
		if _, throttled := retry.DefaultThrottleErrorCodes[api.ErrorCode()]; throttled {
			return err
		}
	}
	if status >= 400 && status < 500 && status != 429 {
		var batch *types.InvalidChangeBatch
		if errors.As(err, &batch) {
			// Its message is a fixed sentence; AWS's reasons are in Messages.
			return certflowdns.Permanent(fmt.Errorf("%w (%s)", err, strings.Join(batch.Messages, "; ")))
		}
		if errors.As(err, new(*types.NoSuchHostedZone)) {
			return certflowdns.PermanentBecause(certflowdns.ZoneNotServed, err)
		}
		return certflowdns.RefusedWith(status, err)
	}
	return err
}

// changedMeanwhile says whether Route 53 refused a change batch, which for
// a DELETE means the set is no longer as it was read.
func changedMeanwhile(err error) bool {
	var batch *types.InvalidChangeBatch
	return errors.As(err, &batch)
}
