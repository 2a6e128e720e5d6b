// Package archtest holds no code: its test enforces the floors of ARCHITECTURE.md.
package archtest
