# amicrypt after amazon-ebs: Packer builds one unencrypted AMI in the builder
# account, then the amicrypt post-processor copies it, encrypted under each
# account's own KMS key, into every target account and region, proves each
# copy boots, and returns them as its artifact.
#
# Against AWS (builder account credentials in the environment, amicrypt's
# worker running, Temporal reachable through TEMPORAL_ADDRESS):
#
#   packer init build.pkr.hcl
#   packer build -var amicrypt_config=amicrypt.yaml build.pkr.hcl
#
# Against the local AWS sandbox and Temporal of `amicrypt dev` (what amicrypt's
# end-to-end test does):
#
#   AWS_ACCESS_KEY_ID=111111111111 AWS_SECRET_ACCESS_KEY=sandbox \
#   AWS_ENDPOINT_URL=http://127.0.0.1:4566 \
#     packer build -var aws_endpoint=http://127.0.0.1:4566 \
#       -var amicrypt_config=../../internal/config/example.yaml build.pkr.hcl
#
# AWS_ENDPOINT_URL as well as custom_endpoint_ec2: packer-plugin-amazon v1.8.2
# builds the per-region EC2 clients that tag the AMI (and copy it to
# ami_regions) without custom_endpoint_ec2; the SDK's variable reaches them.

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.8.2"
    }
    amicrypt = {
      source  = "github.com/amicrypt/amicrypt"
      version = ">= 0.1.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "aws_endpoint" {
  type        = string
  default     = ""
  description = "An AWS-compatible endpoint (amicrypt's sandbox); empty for AWS itself."
}

variable "amicrypt_config" {
  type        = string
  default     = "amicrypt.yaml"
  description = "The amicrypt config file: builder account and targets."
}

variable "fail_on" {
  type        = string
  default     = "any"
  description = "any | all | none | N | N%: how many failed targets fail the build."
}

variable "ami_prefix" {
  type        = string
  default     = "base"
  description = "The AMI is named <ami_prefix>-<timestamp>."
}

variable "manifest" {
  type    = string
  default = "manifest.json"
}

source "amazon-ebs" "base" {
  region        = var.region
  instance_type = "t3.micro"
  ami_name      = "${var.ami_prefix}-{{timestamp}}"
  source_ami_filter {
    filters = {
      name                = "al2023-ami-*-x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["137112412989"] # Amazon
    most_recent = true
  }
  # Unencrypted on purpose: an AMI under the AWS managed key cannot be shared
  # with the target accounts (amicrypt's failure F1).
  encrypt_boot = false
  # The builder role deploy/ makes shares only what is tagged for it
  # (ShareOnlyTaggedImages): the image and its snapshots.
  tags = {
    Name                 = "base"
    "amicrypt:shareable" = "true"
  }
  snapshot_tags = {
    "amicrypt:shareable" = "true"
  }

  # The sandbox has no SSH to offer; a real build provisions over SSH.
  communicator = var.aws_endpoint == "" ? "ssh" : "none"
  ssh_username = "ec2-user"

  custom_endpoint_ec2        = var.aws_endpoint
  skip_credential_validation = var.aws_endpoint != ""
  skip_region_validation     = var.aws_endpoint != ""
  skip_metadata_api_check    = var.aws_endpoint != ""
}

build {
  sources = ["source.amazon-ebs.base"]

  post-processors {
    post-processor "amicrypt" {
      config  = var.amicrypt_config
      fail_on = var.fail_on
      timeout = "3h"
    }
    # Later post-processors see amicrypt's artifact: its id lists
    # account:region:ami-id of every encrypted AMI.
    post-processor "manifest" {
      output     = var.manifest
      strip_path = true
    }
  }
}
