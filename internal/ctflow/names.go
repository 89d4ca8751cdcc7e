package ctflow

import (
	"strconv"
	"strings"
)

var tcpStates = [...]string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}
var sctpStates = [...]string{"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"}
var dccpStates = [...]string{"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT", "IGNORE", "INVALID"}

// StateName is the state column: the protocol's own state where it has
// one, else what the status bits say (as conntrack -L's [UNREPLIED] and
// [ASSURED]), so the column is never empty and can be filtered on.
func (f *Flow) StateName() string {
	if f.HasState {
		var names []string
		switch f.Orig.Proto {
		case ProtoTCP:
			names = tcpStates[:]
		case ProtoSCTP:
			names = sctpStates[:]
		case ProtoDCCP:
			names = dccpStates[:]
		}
		if int(f.State) < len(names) {
			return names[f.State]
		}
	}
	switch {
	case f.Status&StatusSeenReply == 0:
		return "UNREPLIED"
	case f.Status&StatusAssured != 0:
		return "ASSURED"
	}
	return "REPLIED"
}

var protoNames = map[uint8]string{
	ProtoICMP: "icmp", ProtoTCP: "tcp", ProtoUDP: "udp", ProtoDCCP: "dccp", ProtoGRE: "gre",
	ProtoICMPv6: "icmpv6", ProtoSCTP: "sctp", ProtoUDPLite: "udplite",
}

// ProtoName names an IP protocol number as conntrack does; unknown ones
// are their number.
func ProtoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

// ParseProto accepts a protocol name or number.
func ParseProto(s string) (uint8, bool) {
	s = strings.ToLower(s)
	switch s {
	case "ipv6-icmp", "icmp6":
		return ProtoICMPv6, true
	}
	for p, n := range protoNames {
		if n == s {
			return p, true
		}
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err == nil
}

func hasPorts(p uint8) bool {
	switch p {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoDCCP, ProtoUDPLite:
		return true
	}
	return false
}

// ParseState is the inverse of StateName's protocol-state part: it
// returns the number of a TCP, SCTP or DCCP state name.
func ParseState(proto uint8, name string) (uint8, bool) {
	var names []string
	switch proto {
	case ProtoTCP:
		names = tcpStates[:]
	case ProtoSCTP:
		names = sctpStates[:]
	case ProtoDCCP:
		names = dccpStates[:]
	}
	for i, n := range names {
		if n == name {
			return uint8(i), true
		}
	}
	return 0, false
}
