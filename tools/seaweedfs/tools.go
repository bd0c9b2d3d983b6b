//go:build tools

// Package tools pins SeaweedFS, the S3-compatible server that the S3
// conformance suite runs against: .ci/seaweedfs builds its weed binary from
// here with "go build github.com/seaweedfs/seaweedfs/weed". It is a module
// of its own so that the main module's go.mod does not take on SeaweedFS's
// dependencies, and not "go install pkg@version", which refuses SeaweedFS
// for the replace directive in its go.mod.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
