# amicrypt over AMIs built elsewhere: the null builder makes nothing, and
# source_amis names the unencrypted AMIs. Building this again with the same
# AMIs and config attaches to the run already made instead of copying again.
# With preflight = true the run is planned first (reads only) and not started
# when a target is predicted to fail.

packer {
  required_plugins {
    amicrypt = {
      source  = "github.com/amicrypt/amicrypt"
      version = ">= 0.1.0"
    }
  }
}

variable "source_amis" {
  type = map(string)
}

variable "amicrypt_config" {
  type = string
}

variable "wait" {
  type    = bool
  default = true
}

variable "timeout" {
  type    = string
  default = "0s" # no limit
}

variable "fail_on" {
  type    = string
  default = "any"
}

variable "preflight" {
  type    = bool
  default = false
}

variable "allow_predicted_failures" {
  type    = bool
  default = false
}

variable "manifest" {
  type    = string
  default = "manifest.json"
}

source "null" "prebuilt" {
  communicator = "none"
}

build {
  sources = ["source.null.prebuilt"]

  post-processors {
    post-processor "amicrypt" {
      config      = var.amicrypt_config
      source_amis = var.source_amis
      wait        = var.wait
      timeout     = var.timeout
      fail_on     = var.fail_on
      preflight   = var.preflight

      allow_predicted_failures = var.allow_predicted_failures
    }
    post-processor "manifest" {
      output     = var.manifest
      strip_path = true
    }
  }
}
