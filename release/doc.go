// Package release holds the release tooling of crosscheck: release.sh builds
// the linux/amd64 and linux/arm64 archives, their SBOMs and SHA256SUMS
// (make release), offline-bundle.sh packs the Go modules a build needs
// (make offline-bundle), deps.sh installs the Debian packages both need.
// Its tests check the built artefacts; they run from make release-test and
// make offline-test and skip in a plain go test.
package release
