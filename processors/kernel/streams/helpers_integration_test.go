//go:build integration

package streams_test

import "github.com/lovoo/goka"

func streamOf(s string) goka.Stream { return goka.Stream(s) }
