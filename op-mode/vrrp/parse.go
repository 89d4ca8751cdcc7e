package vrrp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrMalformed reports a dump that does not read as keepalived's.
var ErrMalformed = errors.New("malformed keepalived dump")

// Instance is one VRRP group (a keepalived vrrp_instance) as keepalived's
// JSON dump reports it.
type Instance struct {
	Name           string     `json:"name"`
	Interface      string     `json:"interface"`
	VRID           int        `json:"vrid"`
	State          string     `json:"state"`
	WantState      string     `json:"want_state"`
	Priority       int        `json:"priority"` // effective: base plus track weights
	BasePriority   int        `json:"base_priority"`
	MasterPriority int        `json:"master_priority,omitempty"` // the master's, as a backup hears it
	Addresses      []string   `json:"addresses"`
	AddressesSet   bool       `json:"addresses_set"`             // the virtual addresses are on this router
	LastTransition *time.Time `json:"last_transition,omitempty"` // nil: none since start
	AdvertInterval float64    `json:"advert_interval"`           // seconds
	Preempt        bool       `json:"preempt"`
	PreemptDelay   float64    `json:"preempt_delay"` // seconds
	Version        int        `json:"version"`
}

// stateName names keepalived's VRRP_STATE_* numbers (vrrp.h).
func stateName(n int) string {
	switch n {
	case 0:
		return "INIT"
	case 1:
		return "BACKUP"
	case 2:
		return "MASTER"
	case 3:
		return "FAULT"
	case 97:
		return "DELETED"
	case 98:
		return "STOP"
	}
	return "UNKNOWN(" + strconv.Itoa(n) + ")"
}

// jsonInstance is the part of one element of keepalived.json that is
// read; keepalived 2.2 writes {"data": {...}, "stats": {...}}.
type jsonInstance struct {
	Data struct {
		IName             string   `json:"iname"`
		IfpIfname         string   `json:"ifp_ifname"`
		VmacIfname        string   `json:"vmac_ifname"`
		VRID              int      `json:"vrid"`
		State             int      `json:"state"`
		WantState         int      `json:"wantstate"`
		BasePriority      int      `json:"base_priority"`
		EffectivePriority int      `json:"effective_priority"`
		MasterPriority    int      `json:"master_priority"`
		LastTransition    float64  `json:"last_transition"`
		AdverInt          float64  `json:"adver_int"`
		NoPreempt         bool     `json:"nopreempt"`
		PreemptDelay      float64  `json:"preempt_delay"`
		Version           int      `json:"version"`
		VIPSet            bool     `json:"vipset"`
		VIPs              []string `json:"vips"`
	} `json:"data"`
}

// ParseJSON decodes keepalived's JSON dump (keepalived.json), one
// Instance per vrrp_instance, in keepalived's order.
func ParseJSON(b []byte) ([]Instance, error) {
	var raw []jsonInstance
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: keepalived.json: %v", ErrMalformed, err)
	}
	out := make([]Instance, 0, len(raw))
	for i, r := range raw {
		d := r.Data
		if d.IName == "" {
			return nil, fmt.Errorf("%w: keepalived.json: instance %d has no name", ErrMalformed, i)
		}
		in := Instance{
			Name:           d.IName,
			Interface:      d.IfpIfname,
			VRID:           d.VRID,
			State:          stateName(d.State),
			WantState:      stateName(d.WantState),
			Priority:       d.EffectivePriority,
			BasePriority:   d.BasePriority,
			MasterPriority: d.MasterPriority,
			AddressesSet:   d.VIPSet,
			LastTransition: epoch(d.LastTransition),
			AdvertInterval: d.AdverInt,
			Preempt:        !d.NoPreempt,
			PreemptDelay:   d.PreemptDelay,
			Version:        d.Version,
			Addresses:      []string{},
		}
		for _, v := range d.VIPs {
			in.Addresses = append(in.Addresses, vipAddress(v))
		}
		out = append(out, in)
	}
	return out, nil
}

// epoch turns keepalived's seconds.microseconds into a time; zero (never
// transitioned) and values no clock would show are nil.
func epoch(f float64) *time.Time {
	if f <= 0 || math.IsNaN(f) || f > 1<<40 {
		return nil
	}
	sec, frac := math.Modf(f)
	t := time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
	return &t
}

// vipAddress is the address of a virtual_ipaddress as keepalived prints
// it ("198.18.0.101/24 dev eth0 scope global set"): what follows the
// first word repeats the configuration or says whether it is set.
func vipAddress(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// Block is one entry of a section of keepalived's data dump: a VRRP
// instance or a sync group, with its "Key = Value" lines in order and its
// lists ("Virtual IP (1):" and the lines under it).
type Block struct {
	Kind   string // "VRRP Instance", "VRRP Sync Group"
	Name   string
	Fields []Field
	Lists  map[string][]string
}

// Field is one "Key = Value" line.
type Field struct{ Key, Value string }

// Get returns the value of the first field named key.
func (b *Block) Get(key string) string {
	for _, f := range b.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// Data is what `show vrrp` reads of keepalived's data dump
// (keepalived.data, SIGUSR1).
type Data struct {
	Instances  []*Block
	SyncGroups []*Block
}

// ParseData reads keepalived's data dump. The dump is meant for people
// ("the format is not guaranteed to maintain backward compatibility"), so
// only its layout is relied on: sections headed "------< NAME >------",
// entries at one space of indent, their fields at three, list items
// deeper; unknown sections and lines are skipped.
func ParseData(b []byte) (*Data, error) {
	d := &Data{}
	var section string
	var cur *Block
	var list string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	sawSection := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "------<") {
			section = strings.TrimSpace(strings.Trim(strings.TrimSpace(line), "-<>"))
			cur, list, sawSection = nil, "", true
			continue
		}
		if section != "VRRP Topology" && section != "VRRP Sync groups" {
			continue
		}
		text := strings.TrimLeft(line, " ")
		if text == "" {
			continue
		}
		indent := len(line) - len(text)
		switch {
		case indent <= 2:
			k, v, ok := strings.Cut(text, " = ")
			if !ok {
				cur = nil
				continue
			}
			cur = &Block{Kind: k, Name: v, Lists: map[string][]string{}}
			list = ""
			switch {
			case section == "VRRP Topology" && k == "VRRP Instance":
				d.Instances = append(d.Instances, cur)
			case section == "VRRP Sync groups" && k == "VRRP Sync Group":
				// "MAIN, MASTER": the name, then the group's state.
				name, state, _ := strings.Cut(v, ", ")
				cur.Name = name
				cur.Fields = append(cur.Fields, Field{"State", state})
				d.SyncGroups = append(d.SyncGroups, cur)
			default:
				cur = nil
			}
		case cur == nil:
		case indent <= 4:
			list = ""
			if k, v, ok := strings.Cut(text, " = "); ok {
				cur.Fields = append(cur.Fields, Field{k, v})
			} else if strings.HasSuffix(text, ":") {
				list = strings.TrimSpace(strings.TrimSuffix(text, ":"))
				cur.Lists[list] = []string{}
			}
		case list != "":
			cur.Lists[list] = append(cur.Lists[list], text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: keepalived.data: %v", ErrMalformed, err)
	}
	if !sawSection {
		return nil, fmt.Errorf("%w: keepalived.data has no sections", ErrMalformed)
	}
	return d, nil
}

// Stats are one instance's counters from keepalived's statistics dump
// (keepalived.stats, SIGUSR2).
type Stats struct {
	Name              string `json:"name"`
	AdvertsReceived   uint64 `json:"adverts_received"`
	AdvertsSent       uint64 `json:"adverts_sent"`
	BecameMaster      uint64 `json:"became_master"`
	ReleasedMaster    uint64 `json:"released_master"`
	LengthErrors      uint64 `json:"length_errors"`
	TTLErrors         uint64 `json:"ttl_errors"`
	InvalidType       uint64 `json:"invalid_type"`
	IntervalErrors    uint64 `json:"advert_interval_errors"`
	AddressListErrors uint64 `json:"address_list_errors"`
	InvalidAuthType   uint64 `json:"invalid_auth_type"`
	AuthTypeMismatch  uint64 `json:"auth_type_mismatch"`
	AuthFailures      uint64 `json:"auth_failures"`
	PriorityZeroRcvd  uint64 `json:"priority_zero_received"`
	PriorityZeroSent  uint64 `json:"priority_zero_sent"`
}

// counter finds the field of s that a heading and a line of the dump
// name ("Packet Errors" / "TTL").
func (s *Stats) counter(group, name string) *uint64 {
	switch group + "/" + name {
	case "Advertisements/Received":
		return &s.AdvertsReceived
	case "Advertisements/Sent":
		return &s.AdvertsSent
	case "/Became master":
		return &s.BecameMaster
	case "/Released master":
		return &s.ReleasedMaster
	case "Packet Errors/Length":
		return &s.LengthErrors
	case "Packet Errors/TTL":
		return &s.TTLErrors
	case "Packet Errors/Invalid Type":
		return &s.InvalidType
	case "Packet Errors/Advertisement Interval":
		return &s.IntervalErrors
	case "Packet Errors/Address List":
		return &s.AddressListErrors
	case "Authentication Errors/Invalid Type":
		return &s.InvalidAuthType
	case "Authentication Errors/Type Mismatch":
		return &s.AuthTypeMismatch
	case "Authentication Errors/Failure":
		return &s.AuthFailures
	case "Priority Zero/Received":
		return &s.PriorityZeroRcvd
	case "Priority Zero/Sent":
		return &s.PriorityZeroSent
	}
	return nil
}

// ParseStats reads keepalived's statistics dump: "VRRP Instance: NAME"
// at the margin, then counters indented two spaces, either "Name: N" or a
// heading ("Packet Errors:") over counters indented four.
func ParseStats(b []byte) ([]Stats, error) {
	var out []Stats
	var group string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		text := strings.TrimLeft(line, " ")
		if text == "" {
			continue
		}
		indent := len(line) - len(text)
		if indent == 0 {
			name, ok := strings.CutPrefix(text, "VRRP Instance: ")
			if !ok || name == "" {
				return nil, fmt.Errorf("%w: keepalived.stats: unexpected line %q", ErrMalformed, text)
			}
			out = append(out, Stats{Name: name})
			group = ""
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: keepalived.stats: counter %q before any instance", ErrMalformed, text)
		}
		k, v, _ := strings.Cut(text, ":")
		v = strings.TrimSpace(v)
		if indent <= 2 {
			group = ""
			if v == "" {
				group = k
				continue
			}
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: keepalived.stats: %s: %q is not a count", ErrMalformed, k, v)
		}
		if p := out[len(out)-1].counter(group, k); p != nil {
			*p = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: keepalived.stats: %v", ErrMalformed, err)
	}
	return out, nil
}
