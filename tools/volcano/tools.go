//go:build tools

// The packages this module builds (a build tag keeps them out of any normal build).
package tools

import (
	_ "volcano.sh/volcano/cmd/controller-manager"
	_ "volcano.sh/volcano/cmd/scheduler"
)
