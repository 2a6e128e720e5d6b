package loadgen

import (
	"fmt"
	"testing"
)

func TestExpectedMatchesTheDemoMix(t *testing.T) {
	out, shipped := Expected(1000)
	if fmt.Sprint(out) != "map[CANCELLED/OUT_OF_STOCK:175 CANCELLED/PAYMENT_DECLINED:100 SHIPPED:725]" {
		t.Errorf("outcomes %v", out)
	}
	if shipped[SkuScarce] != 25 || shipped[SkuGone] != 0 {
		t.Errorf("shipped %v", shipped)
	}
}
