# Every setting here is wrong; `packer validate` lists every problem at once.

packer {
  required_plugins {
    amicrypt = {
      source  = "github.com/amicrypt/amicrypt"
      version = ">= 0.1.0"
    }
  }
}

source "null" "prebuilt" {
  communicator = "none"
}

build {
  sources = ["source.null.prebuilt"]

  post-processor "amicrypt" {
    temporal_address  = "temporal.example.com"
    temporal_tls_key  = "/nonexistent/client.key"
    fail_on           = "most"
    builder_account   = "1111"
    regions           = ["us-est-1"]
    source_amis       = { "us-east-1" = "ami-xyz" }
    target {
      account = "222222222222"
    }
    target {
      account = "222222222222"
    }
  }
}
