#!/usr/bin/env bash
# make demo-cli: start the AWS sandbox on the default world and walk the real AWS CLI
# through what amicrypt automates -- share, encrypted copy, and both launch
# outcomes of an Auto Scaling group. Exits non-zero if an outcome is not the one
# the world implies.
set -euo pipefail
cd "$(dirname "$0")/.."
AWSCLI=${AWSCLI:-/usr/bin/aws}
BIN=./bin/amicrypt
[ -x "$AWSCLI" ] || { echo "demo: the AWS CLI is missing at $AWSCLI; run 'make deps'" >&2; exit 2; }
[ -x "$BIN" ] || { echo "demo: $BIN is missing; run 'make build'" >&2; exit 2; }

work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM

"$BIN" sandbox --addr 127.0.0.1:0 --log-level warn >"$work/sandbox.out" 2>"$work/sandbox.err" &
pid=$!
for _ in $(seq 100); do grep -q "AWS sandbox at" "$work/sandbox.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(sed -n 's/^AWS sandbox at //p' "$work/sandbox.out")
[ -n "$endpoint" ] || { echo "demo: the sandbox did not start:" >&2; cat "$work/sandbox.err" >&2; exit 1; }
cat "$work/sandbox.out"

REGION=us-east-1 BUILDER=111111111111 PAYMENTS=222222222222 LEGACY=444444444444 SOURCE=ami-0b0000000000a0001
# aws ACCOUNT args...: the CLI acting as ACCOUNT's root user (12-digit access key id).
aws() { local acct=$1; shift
  AWS_ACCESS_KEY_ID=$acct AWS_SECRET_ACCESS_KEY=sandbox AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= \
    "$AWSCLI" --endpoint-url "$endpoint" --region "$REGION" --output text "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\033[31mdemo: %s\033[0m\n' "$*" >&2; exit 1; }

step "1. The builder account shares its unencrypted AMI $SOURCE with payments-prod and legacy-batch"
snap=$(aws $BUILDER ec2 describe-images --image-ids $SOURCE --query 'Images[0].BlockDeviceMappings[0].Ebs.SnapshotId')
for acct in $PAYMENTS $LEGACY; do
  aws $BUILDER ec2 modify-image-attribute --image-id $SOURCE --launch-permission "Add=[{UserId=$acct}]"
  aws $BUILDER ec2 modify-snapshot-attribute --snapshot-id "$snap" --attribute createVolumePermission --operation-type add --user-ids $acct
done
echo "launch permission: $(aws $BUILDER ec2 describe-image-attribute --image-id $SOURCE --attribute launchPermission --query 'LaunchPermissions[].UserId' | tr '\t' ' ')"

step "2. payments-prod gets a dedicated key whose policy lets the Auto Scaling service-linked role in"
slr=arn:aws:iam::$PAYMENTS:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling
key=$(aws $PAYMENTS kms create-key --description "payments-prod AMI key" --query KeyMetadata.KeyId)
aws $PAYMENTS kms put-key-policy --key-id "$key" --policy-name default --policy "{\"Version\":\"2012-10-17\",\"Statement\":[
 {\"Sid\":\"RootAdministration\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::$PAYMENTS:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},
 {\"Sid\":\"AutoScalingUse\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"$slr\"},\"Action\":[\"kms:Encrypt\",\"kms:Decrypt\",\"kms:ReEncrypt*\",\"kms:GenerateDataKey*\",\"kms:DescribeKey\"],\"Resource\":\"*\"},
 {\"Sid\":\"AutoScalingGrants\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"$slr\"},\"Action\":\"kms:CreateGrant\",\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"kms:GrantIsForAWSResource\":true}}}]}"
aws $PAYMENTS kms create-alias --alias-name alias/amicrypt --target-key-id "$key"
echo "key $key (alias/amicrypt)"
legacy_key=$(aws $LEGACY kms describe-key --key-id alias/amicrypt --query KeyMetadata.KeyId)
echo "legacy-batch keeps its security team's key $legacy_key; its policy's statements:"
aws $LEGACY kms get-key-policy --key-id "$legacy_key" --policy-name default --query Policy | grep -o '"Sid" *: *"[^"]*"' | sed 's/^/   /'

step "3. Each target copies the shared AMI, encrypted under its own alias/amicrypt"
declare -A ami
for acct in $PAYMENTS $LEGACY; do
  ami[$acct]=$(aws $acct ec2 copy-image --source-image-id $SOURCE --source-region $REGION --name base-2026-11-encrypted \
    --encrypted --kms-key-id alias/amicrypt --client-token "demo-$acct")
  printf "%s: copying into %s " "$acct" "${ami[$acct]}"
  for _ in $(seq 120); do
    state=$(aws $acct ec2 describe-images --image-ids "${ami[$acct]}" --query 'Images[0].State')
    [ "$state" = pending ] || break; printf .; sleep 0.5
  done
  echo " $state"
  [ "$state" = available ] || fail "copy into $acct ended $state"
  sid=$(aws $acct ec2 describe-images --image-ids "${ami[$acct]}" --query 'Images[0].BlockDeviceMappings[0].Ebs.SnapshotId')
  echo "   snapshot $sid encrypted under $(aws $acct ec2 describe-snapshots --snapshot-ids "$sid" --query 'Snapshots[0].KmsKeyId')"
done

step "4. Boot proof: an Auto Scaling group in each target launches the encrypted AMI"
declare -A outcome
for acct in $PAYMENTS $LEGACY; do
  lt=$(aws $acct ec2 create-launch-template --launch-template-name boot-proof \
        --launch-template-data "{\"ImageId\":\"${ami[$acct]}\",\"InstanceType\":\"t3.micro\",\"BlockDeviceMappings\":[{\"DeviceName\":\"/dev/xvda\",\"Ebs\":{\"Encrypted\":true,\"KmsKeyId\":\"alias/amicrypt\"}}]}" \
        --query LaunchTemplate.LaunchTemplateId)
  aws $acct autoscaling create-auto-scaling-group --auto-scaling-group-name boot-proof --launch-template "LaunchTemplateId=$lt,Version=\$Latest" \
    --min-size 0 --max-size 1 --desired-capacity 1 --availability-zones ${REGION}a
  printf "%s: " "$acct"
  for _ in $(seq 60); do
    status=$(aws $acct autoscaling describe-scaling-activities --auto-scaling-group-name boot-proof --query 'Activities[0].StatusCode')
    case "$status" in Successful|Failed) break;; esac; printf .; sleep 0.5
  done
  outcome[$acct]=$status
  echo " $status"
  [ "$status" = Failed ] && echo "   $(aws $acct autoscaling describe-scaling-activities --auto-scaling-group-name boot-proof --query 'Activities[0].StatusMessage')"
  aws $acct autoscaling delete-auto-scaling-group --auto-scaling-group-name boot-proof --force-delete
  aws $acct ec2 delete-launch-template --launch-template-id "$lt" >/dev/null
done

step "5. The builder revokes the temporary shares"
for acct in $PAYMENTS $LEGACY; do
  aws $BUILDER ec2 modify-image-attribute --image-id $SOURCE --launch-permission "Remove=[{UserId=$acct}]"
  aws $BUILDER ec2 modify-snapshot-attribute --snapshot-id "$snap" --attribute createVolumePermission --operation-type remove --user-ids $acct
done
echo "launch permission now: [$(aws $BUILDER ec2 describe-image-attribute --image-id $SOURCE --attribute launchPermission --query 'LaunchPermissions[].UserId')]"

step "Result"
[ "${outcome[$PAYMENTS]}" = Successful ] || fail "payments-prod should boot (its key policy names the service-linked role), got ${outcome[$PAYMENTS]}"
[ "${outcome[$LEGACY]}" = Failed ] || fail "legacy-batch should fail with Client error on launch (F2), got ${outcome[$LEGACY]}"
echo "payments-prod: Successful   -- the key policy lets AWSServiceRoleForAutoScaling use the key"
echo "legacy-batch:  Failed (F2)  -- the key policy leaves the service-linked role out: Client.InternalError: Client error on launch"
