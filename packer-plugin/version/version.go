// Package version is the plugin's version, reported to Packer by `describe`.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is the plugin's semantic version.
	Version = "0.1.0"
	// VersionPrerelease is a pre-release marker ("dev", "beta"); empty for a release.
	VersionPrerelease = ""
	// VersionMetadata is build metadata (+...).
	VersionMetadata = ""
	// PluginVersion is what the plugin set reports.
	PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
