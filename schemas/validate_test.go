package schemas

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func order(lines ...OrderLine) OrderPlaced {
	o := OrderPlaced{Meta: Metadata{EventID: "e-1"}, OrderID: "o-1", Lines: lines}
	for _, l := range lines {
		o.TotalMinor += int64(l.Quantity) * l.UnitPriceMinor
	}
	return o
}

func repeat(n int, l OrderLine) []OrderLine {
	out := make([]OrderLine, n)
	for i := range out {
		out[i] = l
	}
	return out
}

// The order of issue 11: 18 lines of 10^6 × 10^12. Each line is within bounds, the sum wraps
// int64; whatever total the event claims (the wrapped one included), it is rejected.
func TestValidateRejectsOverflowingTotal(t *testing.T) {
	o := order(repeat(18, OrderLine{SKU: "SKU-1", Quantity: MaxQuantity, UnitPriceMinor: MaxUnitPriceMinor})...)
	if o.TotalMinor >= 0 {
		t.Fatalf("test premise: the naive total should wrap negative, got %d", o.TotalMinor)
	}
	for _, total := range []int64{o.TotalMinor, math.MaxInt64, MaxTotalMinor} {
		o.TotalMinor = total
		err := o.Validate()
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrOverflow) {
			t.Errorf("total %d: err = %v, want ErrInvalid and ErrOverflow", total, err)
		}
	}
}

func TestValidateBounds(t *testing.T) {
	line := OrderLine{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: 100}
	maxLine := OrderLine{SKU: "SKU-1", Quantity: MaxQuantity, UnitPriceMinor: MaxTotalMinor / MaxQuantity}
	cases := []struct {
		name  string
		order OrderPlaced
		want  string // "" accepted, else a substring of the error
	}{
		{"one line", order(line), ""},
		{"free line", order(OrderLine{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: 0}), ""},
		{"max quantity", order(OrderLine{SKU: "SKU-1", Quantity: MaxQuantity, UnitPriceMinor: 1}), ""},
		{"max unit price", order(OrderLine{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: MaxUnitPriceMinor}), ""},
		{"max lines", order(repeat(MaxLines, line)...), ""},
		{"total exactly at the maximum", order(maxLine), ""},
		{"no lines", order(), "no lines"},
		{"too many lines", order(repeat(MaxLines+1, line)...), "at most 500"},
		{"quantity 0", order(OrderLine{SKU: "SKU-1", Quantity: 0, UnitPriceMinor: 1}), "quantity 0 ≤ 0"},
		{"negative quantity", order(OrderLine{SKU: "SKU-1", Quantity: -3, UnitPriceMinor: 1}), "quantity -3 ≤ 0"},
		{"quantity over the maximum", order(OrderLine{SKU: "SKU-1", Quantity: MaxQuantity + 1, UnitPriceMinor: 1}), "quantity 1000001 > 1000000"},
		{"negative price", order(OrderLine{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: -1}), "unit price -1 < 0"},
		{"price over the maximum", order(OrderLine{SKU: "SKU-1", Quantity: 1, UnitPriceMinor: MaxUnitPriceMinor + 1}), "unit price 1000000000001 >"},
		{"total over the maximum", order(maxLine, line), "exceeds the maximum total"},
		{"total not the sum", func() OrderPlaced { o := order(line); o.TotalMinor++; return o }(), "≠ sum of lines"},
		{"no sku", order(OrderLine{Quantity: 1}), "no sku"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.order.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
}

func TestCheckedArithmetic(t *testing.T) {
	muls := []struct {
		a, b int64
		ok   bool
	}{
		{0, math.MaxInt64, true}, {MaxQuantity, MaxUnitPriceMinor, true}, {-1, math.MaxInt64, true},
		{math.MaxInt64, 2, false}, {math.MinInt64, -1, false}, {-1, math.MinInt64, false},
		{1 << 32, 1 << 31, false}, {3_037_000_499, 3_037_000_499, true}, {3_037_000_500, 3_037_000_500, false},
	}
	for _, c := range muls {
		p, err := MulMinor(c.a, c.b)
		if (err == nil) != c.ok || (c.ok && p != c.a*c.b) {
			t.Errorf("MulMinor(%d, %d) = %d, %v; want ok=%v", c.a, c.b, p, err, c.ok)
		}
	}
	adds := []struct {
		a, b int64
		ok   bool
	}{
		{math.MaxInt64 - 1, 1, true}, {math.MaxInt64, 1, false}, {math.MinInt64, -1, false},
		{math.MinInt64, math.MaxInt64, true}, {9e18, 9e18, false},
	}
	for _, c := range adds {
		s, err := AddMinor(c.a, c.b)
		if (err == nil) != c.ok || (c.ok && s != c.a+c.b) || (!c.ok && !errors.Is(err, ErrOverflow)) {
			t.Errorf("AddMinor(%d, %d) = %d, %v; want ok=%v", c.a, c.b, s, err, c.ok)
		}
	}
}
