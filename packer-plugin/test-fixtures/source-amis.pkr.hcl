# amicrypt over AMIs built elsewhere: the null builder makes nothing, and
# source_amis names the unencrypted AMIs. Building this again with the same
# AMIs and config attaches to the run already made instead of copying again.

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
    }
    post-processor "manifest" {
      output     = var.manifest
      strip_path = true
    }
  }
}
