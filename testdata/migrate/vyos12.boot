high-availability {
    vrrp {
        group LAN {
            interface eth0
            priority 200
            virtual-address 192.0.2.1/24
            vrid 10
        }
        group WAN {
            interface eth2
            no-preempt
            virtual-address 203.0.113.1/24 {
            }
            virtual-address 2001:db8::1/64 {
            }
            vrid 20
        }
        sync-group MAIN {
            member LAN
            member WAN
        }
    }
}
interfaces {
    ethernet eth0 {
        address 192.0.2.2/24
        hw-id 00:50:56:00:00:01
    }
}
service {
    conntrack-sync {
        accept-protocol tcp,udp,icmp
        failover-mechanism {
            vrrp {
                sync-group MAIN
            }
        }
        interface eth1 {
            peer 10.255.0.2
        }
        ignore-address {
            ipv4 10.255.0.1
        }
    }
    ssh {
        port 22
    }
}
system {
    host-name vyos
}
// Warning: Do not remove the following line.
// vyos-config-version: "broadcast-relay@1:cluster@1:config-management@1:conntrack-sync@1:conntrack@1:dhcp-relay@2:dhcp-server@5:firewall@5:interfaces@5:system@12:vrrp@2:wanloadb@1"
// Release version: 1.2.9
