package regions_test

import (
	"testing"

	"github.com/crosscheck/crosscheck/regions"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		code, name, full string
		level            regions.Level
		active           bool
	}{
		{"410221", "杞县", "河南省开封市杞县", regions.County, true},
		{"411082", "长葛市", "河南省许昌市长葛市", regions.County, true},
		{"411022", "长葛县", "河南省许昌市长葛县", regions.County, false}, // abolished 1993, still in old ID numbers
		{"410000", "河南省", "河南省", regions.Province, true},
		{"41", "河南省", "河南省", regions.Province, true},
		{"4110", "许昌市", "河南省许昌市", regions.Prefecture, true},
		{"419001", "济源市", "河南省济源市", regions.County, true},                // code reused: 义马市 1987–1990
		{"410171", "郑州经济技术开发区", "河南省郑州市郑州经济技术开发区", regions.County, true}, // NBS only
		{"110101", "东城区", "北京市东城区", regions.County, true},
	} {
		r, ok := regions.Lookup(tc.code)
		if !ok || r.Name != tc.name || r.FullName() != tc.full || r.Level != tc.level || r.Active != tc.active {
			t.Errorf("%s: %+v %v (full %q)", tc.code, r, ok, r.FullName())
		}
	}
	if _, ok := regions.Lookup("419999"); ok {
		t.Errorf("unknown code found")
	}
}

func TestCountyAndDescribe(t *testing.T) {
	if got := regions.CountyName("410221102201"); got != "杞县" {
		t.Errorf("county of a village code: %q", got)
	}
	if got := regions.Name("410221102"); got == "" {
		t.Errorf("township 410221102 has no name")
	}
	if got := regions.Describe("410221102"); got != "开封市杞县"+regions.Name("410221102") {
		t.Errorf("describe township: %q", got)
	}
	if got := regions.Describe("411082"); got != "许昌市长葛市" {
		t.Errorf("describe county: %q", got)
	}
	if got := regions.Label("999999"); got != "999999" {
		t.Errorf("label of an unknown code: %q", got)
	}
	if got := regions.CountyName("41"); got != "" {
		t.Errorf("short code: %q", got)
	}
}
