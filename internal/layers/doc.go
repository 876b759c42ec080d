// Package layers holds the test that keeps the import rules of the design (docs/DESIGN.md): the
// algorithms stay pure, and the transports know nothing of collectives. It has no code.
package layers
