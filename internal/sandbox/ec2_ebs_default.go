package sandbox

import "github.com/amicrypt/amicrypt/internal/sandbox/wire"

// The account's default KMS key for EBS encryption by default, per region
// (ModifyEbsDefaultKmsKeyId, ResetEbsDefaultKmsKeyId; GetEbsDefaultKmsKeyId
// is in ec2_images.go).
func (s *Server) registerEC2EBSDefaultKey() {
	s.handle("ec2", "ModifyEbsDefaultKmsKeyId", s.ec2ModifyEbsDefaultKmsKeyId)
	s.handle("ec2", "ResetEbsDefaultKmsKeyId", s.ec2ResetEbsDefaultKmsKeyId)
}

// ec2ModifyEbsDefaultKmsKeyId names a customer managed key of the account and
// region (by id, ARN, alias name or alias ARN) as the default EBS key and
// answers with its ARN. AWS documents that a key id, alias or ARN that is
// not valid can make the call "appear to complete" and fail later; the
// sandbox refuses it at once (InvalidParameterValue), and refuses an
// asymmetric key, which EBS does not support.
func (s *Server) ec2ModifyEbsDefaultKmsKeyId(c *call) (map[string]any, error) {
	ref := wire.Str(c.in, "KmsKeyId")
	if ref == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter KmsKeyId")
	}
	k, err := c.c.resolveKey(c.caller.Account, c.region, ref)
	if err != nil || k == nil || k.Account != c.caller.Account || k.Region != c.region {
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter KmsKeyId is invalid. The KMS key does not exist in this account and region.", ref)
	}
	if k.Spec != "" && k.Spec != "SYMMETRIC_DEFAULT" {
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter KmsKeyId is invalid. Amazon EBS does not support asymmetric KMS keys.", ref)
	}
	r := c.c.region(c.caller.Account, c.region)
	r.EBSDefaultKMSKeyID = k.ID
	c.c.markDirty()
	return map[string]any{"KmsKeyId": k.ARN}, nil
}

// ec2ResetEbsDefaultKmsKeyId makes the AWS managed key (alias/aws/ebs) the
// default EBS key again.
func (s *Server) ec2ResetEbsDefaultKmsKeyId(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	r.EBSDefaultKMSKeyID = ""
	c.c.markDirty()
	return map[string]any{"KmsKeyId": "alias/aws/ebs"}, nil
}
