package schema

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/openconfig/goyang/pkg/yang"
)

// valueType is a leaf's YANG type reduced to what validation needs, with
// its patterns compiled.
type valueType struct {
	name     string // typedef name, or the built-in type's name
	kind     yang.TypeKind
	ranges   yang.YangRange
	length   yang.YangRange
	patterns []*compiledPattern
	enums    []string // in declaration order
	enumHelp map[string]string
	fraction int
	union    []*valueType
}

type compiledPattern struct {
	src string
	re  *regexp.Regexp
}

// typedefInfo gives the ctsync-types typedefs a friendly help line and
// error, and for IP types the parse that backs the deliberately loose
// IPv6 patterns. A typedef missing here still validates: it just gets
// generic text.
var typedefInfo = map[string]struct {
	help, msg string
	check     func(string) bool
}{
	"ipv4-address":         {"IPv4 address", "must be an IPv4 address", isIPv4},
	"ipv4-multicast":       {"IPv4 multicast address", "must be an IPv4 multicast address (224.0.0.0/4)", isIPv4Multicast},
	"ipv4-prefix":          {"IPv4 address/prefix length", "must be an IPv4 address with a prefix length (192.0.2.1/24)", isIPv4Prefix},
	"ipv6-address":         {"IPv6 address", "must be an IPv6 address", isIPv6},
	"ipv6-prefix":          {"IPv6 address/prefix length", "must be an IPv6 address with a prefix length (2001:db8::1/64)", isIPv6Prefix},
	"ip-address":           {"IPv4 or IPv6 address", "must be an IPv4 or IPv6 address", nil},
	"ip-prefix":            {"IPv4 or IPv6 address/prefix length", "must be an IPv4 or IPv6 address with a prefix length (192.0.2.1/24, 2001:db8::1/64)", nil},
	"ip-address-or-prefix": {"IPv4 or IPv6 address or prefix", "must be an IPv4 or IPv6 address or prefix", nil},
	"interface-name":       {"interface name", "must be an interface name: 1-15 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", nil},
	"name":                 {"name", "must be a name: 1-64 letters, digits, '.', '_' or '-', starting with a letter, digit or '_'", nil},
	"description":          {"text", "must be 1-255 printable ASCII characters without quotes, braces, '#', ';' or backslashes", nil},
	"script-path":          {"absolute script path", "must be an absolute path of letters, digits, '.', '_', '+', '/' and '-'", nil},
	"password":             {"password (up to 8 characters)", "must be 1-8 printable characters without spaces, quotes, braces, '#', ';' or backslashes", nil},
}

func (b *builder) valueType(y *yang.YangType) (*valueType, error) {
	t := &valueType{
		name:     y.Name,
		kind:     y.Kind,
		ranges:   y.Range,
		length:   y.Length,
		fraction: y.FractionDigits,
	}
	for _, p := range y.Pattern {
		cp, ok := b.patterns[p]
		if !ok {
			// A YANG pattern is an XSD regular expression, which is always
			// anchored at both ends. The ones in schema/ use only the
			// syntax XSD and Go share.
			re, err := regexp.Compile(`^(?:` + p + `)$`)
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", p, err)
			}
			cp = &compiledPattern{src: p, re: re}
			b.patterns[p] = cp
		}
		t.patterns = append(t.patterns, cp)
	}
	switch y.Kind {
	case yang.Yenum:
		if y.Enum == nil {
			return nil, errors.New("enumeration without values")
		}
		vals := y.Enum.Values()
		for _, v := range vals {
			t.enums = append(t.enums, y.Enum.Name(v))
		}
	case yang.Yunion:
		for _, u := range y.Type {
			ut, err := b.valueType(u)
			if err != nil {
				return nil, err
			}
			t.union = append(t.union, ut)
		}
	case yang.Ystring, yang.Yempty, yang.Yint8, yang.Yint16, yang.Yint32, yang.Yint64,
		yang.Yuint8, yang.Yuint16, yang.Yuint32, yang.Yuint64, yang.Ydecimal64, yang.Ybool:
	default:
		// leafref, identityref, bits, binary, ... are not used by the
		// schema; refusing them here keeps ValidateValue honest.
		return nil, fmt.Errorf("type %s (%v) is not supported", y.Name, y.Kind)
	}
	return t, nil
}

// validate checks v, returning an error worded to follow a path.
func (t *valueType) validate(v string) error {
	if err := t.check(v); err != nil {
		if info, ok := typedefInfo[t.name]; ok {
			return errors.New(info.msg)
		}
		return err
	}
	return nil
}

func (t *valueType) check(v string) error {
	if v == "" && t.kind != yang.Ystring {
		return errors.New("must not be empty")
	}
	switch t.kind {
	case yang.Yempty:
		return errors.New("takes no value")
	case yang.Ybool:
		if v != "true" && v != "false" {
			return errors.New("must be true or false")
		}
		return nil
	case yang.Yenum:
		for _, e := range t.enums {
			if e == v {
				return nil
			}
		}
		return fmt.Errorf("must be one of: %s", strings.Join(t.enums, ", "))
	case yang.Yunion:
		for _, u := range t.union {
			if u.validate(v) == nil {
				return nil
			}
		}
		var alts []string
		for _, u := range t.union {
			alts = append(alts, u.help(""))
		}
		return fmt.Errorf("must be one of: %s", strings.Join(alts, ", "))
	case yang.Ydecimal64:
		n, err := parseDecimal(v, t.fraction)
		if err != nil {
			return fmt.Errorf("must be a decimal number with at most %d fraction digits", t.fraction)
		}
		if !inRanges(t.ranges, n) {
			return numberError(t.ranges)
		}
		return nil
	case yang.Ystring:
		if !inLength(t.length, len(v)) {
			return fmt.Errorf("must be %s characters long", rangeText(t.length))
		}
		for _, p := range t.patterns {
			if !p.re.MatchString(v) {
				return fmt.Errorf("must match %s", p.src)
			}
		}
		if info, ok := typedefInfo[t.name]; ok && info.check != nil && !info.check(v) {
			return errors.New(info.msg)
		}
		return nil
	default: // integers
		n, err := parseInteger(v, t.kind)
		if err != nil || !inRanges(t.ranges, n) {
			return numberError(t.ranges)
		}
		return nil
	}
}

func numberError(r yang.YangRange) error {
	if len(r) == 1 && !r[0].Min.Equal(r[0].Max) {
		return fmt.Errorf("must be a number between %s and %s", r[0].Min, r[0].Max)
	}
	return fmt.Errorf("must be a number in %s", rangeText(r))
}

// parseInteger accepts only the canonical form: no sign on unsigned
// types, no '+', no leading zeros. A value reaches generated files as
// typed, so "0080" must not be a way to say 80.
func parseInteger(v string, kind yang.TypeKind) (yang.Number, error) {
	digits := strings.TrimPrefix(v, "-")
	if digits == "" || (len(digits) > 1 && digits[0] == '0') || (digits != v && digits == "0") {
		return yang.Number{}, errors.New("not canonical")
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return yang.Number{}, errors.New("not a number")
		}
	}
	bits := intBits(kind)
	if isUnsigned(kind) {
		u, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return yang.Number{}, err
		}
		return yang.FromUint(u), nil
	}
	i, err := strconv.ParseInt(v, 10, bits)
	if err != nil {
		return yang.Number{}, err
	}
	return yang.FromInt(i), nil
}

func parseDecimal(v string, fraction int) (yang.Number, error) {
	intPart, frac, hasDot := strings.Cut(strings.TrimPrefix(v, "-"), ".")
	if intPart == "" || (hasDot && (frac == "" || len(frac) > fraction)) || (len(intPart) > 1 && intPart[0] == '0') {
		return yang.Number{}, errors.New("not canonical")
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return yang.Number{}, errors.New("not a number")
		}
	}
	return yang.ParseDecimal(v, uint8(fraction))
}

func intBits(k yang.TypeKind) int {
	switch k {
	case yang.Yint8, yang.Yuint8:
		return 8
	case yang.Yint16, yang.Yuint16:
		return 16
	case yang.Yint32, yang.Yuint32:
		return 32
	}
	return 64
}

func isUnsigned(k yang.TypeKind) bool {
	return k == yang.Yuint8 || k == yang.Yuint16 || k == yang.Yuint32 || k == yang.Yuint64
}

func inRanges(r yang.YangRange, n yang.Number) bool {
	if len(r) == 0 {
		return true
	}
	for _, x := range r {
		if !n.Less(x.Min) && !x.Max.Less(n) {
			return true
		}
	}
	return false
}

func inLength(r yang.YangRange, l int) bool {
	return inRanges(r, yang.FromInt(int64(l)))
}

// rangeText renders a range the way VyOS's help does: "1-255", "2-3, 5".
func rangeText(r yang.YangRange) string {
	parts := make([]string, 0, len(r))
	for _, x := range r {
		if x.Min.Equal(x.Max) {
			parts = append(parts, x.Min.String())
		} else {
			parts = append(parts, x.Min.String()+"-"+x.Max.String())
		}
	}
	return strings.Join(parts, ", ")
}

// help is the one-line type help shown by `?` and in "value required".
func (t *valueType) help(units string) string {
	var h string
	if info, ok := typedefInfo[t.name]; ok {
		h = info.help
	} else {
		switch t.kind {
		case yang.Yenum:
			h = strings.Join(t.enums, "|")
		case yang.Yunion:
			var alts []string
			for _, u := range t.union {
				alts = append(alts, u.help(""))
			}
			h = strings.Join(alts, " or ")
		case yang.Ybool:
			h = "true|false"
		case yang.Ydecimal64:
			h = "decimal " + rangeText(t.ranges)
		case yang.Ystring:
			h = "text"
		case yang.Yempty:
			h = ""
		default:
			// VyOS calls every unsigned number u32 in its help; users know it.
			prefix := "u32 "
			if !isUnsigned(t.kind) {
				prefix = "integer "
			}
			h = prefix + rangeText(t.ranges)
		}
	}
	if units != "" && h != "" {
		h += " " + units
	}
	return h
}

func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

func isIPv4Multicast(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4() && a.IsMulticast()
}

func isIPv4Prefix(s string) bool {
	p, err := netip.ParsePrefix(s)
	return err == nil && p.Addr().Is4()
}

// isIPv6 refuses zones (fe80::1%eth0) and IPv4 addresses: the pattern
// lets through anything made of hex digits, colons and dots.
func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

func isIPv6Prefix(s string) bool {
	p, err := netip.ParsePrefix(s)
	return err == nil && p.Addr().Is6() && p.Addr().Zone() == ""
}
